package frame_test

import (
	"fmt"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
)

// Example reads the masked client frame of RFC 6455 5.7, delivered in two
// pieces the way a socket may deliver it.
func Example() {
	wire := []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}

	var r frame.Reader // one per connection
	var buf []byte
	for _, piece := range [][]byte{wire[:3], wire[3:]} {
		buf = append(buf, piece...)
		h, hn, err := frame.ParseHeader(buf)
		if err != nil {
			fmt.Println("close with", frame.CloseCode(err))
			return
		}
		if hn == 0 {
			fmt.Println("header incomplete: wait for more bytes")
			continue
		}
		if err := r.Check(h, 64<<10); err != nil {
			fmt.Println("close with", frame.CloseCode(err))
			return
		}
		if int64(len(buf)-hn) < h.Length {
			fmt.Println("payload incomplete: wait for more bytes")
			continue
		}
		m, err := r.Frame(h, buf[hn:hn+int(h.Length)])
		if err != nil {
			fmt.Println("close with", frame.CloseCode(err))
			return
		}
		if m.Op == ws.OpText {
			fmt.Printf("text %q\n", m.Payload)
		}
		r.Release()
	}
	// Output:
	// header incomplete: wait for more bytes
	// text "Hello"
}
