package wire

import (
	"net/http"
	"strconv"
)

// Error is the JSON body of every error answer, on the WebSocket port and
// the HTTP API alike: {"error":"code","message":"..."} (docs/api.md).
type Error struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// AppendError appends the JSON of an Error to b.
func AppendError(b []byte, code, msg string) []byte {
	b = append(b, `{"error":`...)
	b = AppendString(b, code)
	b = append(b, `,"message":`...)
	b = AppendString(b, msg)
	return append(b, '}')
}

// AppendHTTPError appends a complete HTTP/1.1 error response with status
// and an Error body to dst. extra, when not empty, holds more header lines,
// each ending in CRLF. The response says Connection: close.
func AppendHTTPError(dst []byte, status int, code, msg, extra string) []byte {
	var body [256]byte
	b := AppendError(body[:0], code, msg)
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(status)...)
	dst = append(dst, "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, extra...)
	dst = append(dst, "\r\n"...)
	return append(dst, b...)
}
