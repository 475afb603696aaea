package wire

import (
	"strconv"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
	"github.com/wspush/wspush/server/internal/history"
)

// The push envelope (docs/protocol.md):
//
//	{"type":"push","id":"m1","pos":"P","data":DATA,"ts":MS,"room":"R","from":"F"}
//
// pos only with history, room and from only when set. It is built in three
// parts because the cluster hands the head and the tail to Redis, which
// puts the position it assigns between them.

// AppendPushHead appends {"type":"push","id":ID to b: ID is name as a
// JSON string when it is not empty (the backend's id), else "mN".
func AppendPushHead(b []byte, n uint64, name string) []byte {
	if name != "" {
		b = append(b, `{"type":"push","id":`...)
		return AppendString(b, name)
	}
	b = append(b, `{"type":"push","id":"m`...)
	b = strconv.AppendUint(b, n, 10)
	return append(b, '"')
}

// AppendPushPos appends ,"pos":"P" to b; nothing when p is zero.
func AppendPushPos(b []byte, p history.Pos) []byte {
	if p == 0 {
		return b
	}
	b = append(b, `,"pos":"`...)
	b = p.Append(b)
	return append(b, '"')
}

// AppendPushTail appends the rest of an envelope after its id and pos:
// ,"data":DATA,"ts":TS[,"room":R][,"from":F]}. data is JSON, copied as is.
func AppendPushTail(b, data []byte, room, from string, ts int64) []byte {
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	if room != "" {
		b = append(b, `,"room":`...)
		b = AppendString(b, room)
	}
	if from != "" {
		b = append(b, `,"from":`...)
		b = AppendString(b, from)
	}
	return append(b, '}')
}

// maxHeader is the largest header of an unmasked server frame.
const maxHeader = 10

// PushFrame returns the text frame of a push envelope with id name (or
// "mN" when name is empty), built in one
// buffer: the envelope is written after room for the largest header, and
// the header then goes right before it. The frame is meant to be shared
// by every receiver: nobody may modify it.
func PushFrame(n uint64, name string, data []byte, room, from string, p history.Pos, ts int64) []byte {
	b := make([]byte, maxHeader, maxHeader+96+len(data)+len(room)+len(from)+len(name))
	b = AppendPushHead(b, n, name)
	b = AppendPushPos(b, p)
	b = AppendPushTail(b, data, room, from, ts)
	return frameInPlace(b)
}

// frameInPlace turns b, a payload after maxHeader reserved bytes, into one
// text frame without copying the payload.
func frameInPlace(b []byte) []byte {
	n := len(b) - maxHeader
	hs := frame.FrameSize(n) - n
	start := maxHeader - hs
	frame.AppendHeader(b[start:start], ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(n)})
	return b[start:]
}

// TextFrame returns a new text frame whose payload is s, in one
// allocation: for envelopes that arrive as strings (from Redis).
func TextFrame(s string) []byte {
	b := make([]byte, 0, frame.FrameSize(len(s)))
	b = frame.AppendHeader(b, ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(len(s))})
	return append(b, s...)
}

// FramePayload is the payload of f, one whole unmasked frame (a push
// frame as PushFrame or TextFrame made it), or nil if f is not one.
func FramePayload(f []byte) []byte {
	h, n, err := frame.ParseHeader(f)
	if err != nil || n == 0 || h.Masked || int64(len(f)-n) != h.Length {
		return nil
	}
	return f[n:]
}
