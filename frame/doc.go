// Package frame implements the RFC 6455 framing layer over byte slices.
//
// It does no I/O and starts no goroutines: the caller owns the bytes, feeds
// them in as they arrive and writes what this package encodes. It reuses
// github.com/gobwas/ws for the frame types (ws.Header, ws.OpCode,
// ws.StatusCode, ws.State) and its checks (ws.CheckHeader, ws.Cipher), and
// adds only what an event loop needs on top: parsing that says "need more
// bytes" instead of blocking, message assembly with interleaved control
// frames, incremental UTF-8 validation and size limits decided from headers,
// text frames taken in as they arrive (Reader.Stream, Reader.More: invalid
// UTF-8 fails at the first bad byte, each byte is handled once), and
// permessage-deflate (RFC 7692) with no context takeover: RSV1 tracking
// (Reader.SetDeflate), a bounded Inflater and a Deflater whose frames are
// valid on every connection that negotiated the extension.
//
// A server reads client frames like this (the event loop of package server
// is the real caller):
//
//	var r frame.Reader // one per connection; the zero value is ready
//	for {
//		h, hn, err := frame.ParseHeader(buf)
//		if err != nil { /* close with frame.CloseCode(err) */ }
//		if hn == 0 { break } // header incomplete: wait for more bytes
//		if err := r.Check(h, maxMessage); err != nil { /* close */ }
//		if int64(len(buf)-hn) < h.Length { break } // payload incomplete
//		m, err := r.Frame(h, buf[hn:hn+int(h.Length)])
//		if err != nil { /* close with frame.CloseCode(err) */ }
//		if m.Op != ws.OpContinuation { /* handle m.Payload, valid until the next call */ }
//		r.Release()
//		buf = buf[hn+int(h.Length):]
//	}
//
// Frames going out are encoded header and payload into one slice, so that
// one write sends one frame: AppendFrame, AppendClose, and the pre-encoded
// control frames Ping, Pong and Close*.
package frame
