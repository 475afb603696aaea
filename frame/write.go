package frame

import "github.com/gobwas/ws"

// Pre-encoded server control frames. They are shared: never modify them.
var (
	Ping  = ws.CompiledPing
	Close = ws.CompiledClose
)

// AppendFrame appends one final, unmasked server frame with opcode op and
// payload p to dst: header and payload together, so that one write sends it.
func AppendFrame(dst []byte, op ws.OpCode, p []byte) []byte {
	dst = AppendHeader(dst, ws.Header{Fin: true, OpCode: op, Length: int64(len(p))})
	return append(dst, p...)
}

// FrameSize is the size on the wire of an unmasked frame with an n-byte
// payload, for sizing the buffer given to AppendFrame.
func FrameSize(n int) int {
	switch {
	case n < 126:
		return 2 + n
	case n <= 0xffff:
		return 4 + n
	}
	return 10 + n
}
