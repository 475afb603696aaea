package engine

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
)

// dialOffer upgrades on path with a Sec-WebSocket-Extensions offer (none
// when empty) and returns the client and the extensions the server
// answered with.
func dialOffer(t *testing.T, s *Engine, path, offer string) (*client, string) {
	t.Helper()
	c := dial(t, s)
	req := upgradeRequest(path)
	if offer != "" {
		req = strings.TrimSuffix(req, "\r\n") + "Sec-WebSocket-Extensions: " + offer + "\r\n\r\n"
	}
	c.Write([]byte(req))
	head, _ := c.ExpectStatus(http.StatusSwitchingProtocols)
	for _, line := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Sec-WebSocket-Extensions") {
			return c, strings.TrimSpace(v)
		}
	}
	return c, ""
}

// compressedFrame is a masked client frame carrying p compressed.
func compressedFrame(t *testing.T, op ws.OpCode, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	_, _ = w.Write(p)
	_ = w.Flush()
	f := maskedFrame(op, true, b.Bytes()[:b.Len()-4])
	f[0] |= 0x40 // RSV1
	return f
}

// inflated is the payload of a server frame, inflated if RSV1 marks it
// compressed; it reports whether it was.
func inflated(t *testing.T, h ws.Header, p []byte) ([]byte, bool) {
	t.Helper()
	if h.Rsv&0x4 == 0 {
		return p, false
	}
	out, err := frame.NewInflater().Inflate(h.OpCode, p, 1<<24)
	if err != nil {
		t.Fatalf("server frame does not inflate: %v", err)
	}
	return bytes.Clone(out), true
}

const deflateAnswer = "permessage-deflate;server_no_context_takeover;client_no_context_takeover"

func TestDeflateNegotiation(t *testing.T) {
	for _, tc := range []struct {
		name, offer, want string
		off               bool
	}{
		{"browser", "permessage-deflate; client_max_window_bits", deflateAnswer, false},
		{"bare", "permessage-deflate", deflateAnswer, false},
		{"limits our window", "permessage-deflate; server_max_window_bits=10", deflateAnswer + ";server_max_window_bits=10", false},
		{"first acceptable of two", "permessage-deflate; bogus=1, permessage-deflate", deflateAnswer, false},
		{"malformed only", "permessage-deflate; client_max_window_bits=99", "", false},
		{"another extension", "x-webkit-deflate-frame", "", false},
		{"none", "", "", false},
		{"compression off", "permessage-deflate; client_max_window_bits", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startEngine(t, Config{Echo: true, NoCompression: tc.off}, nil)
			c, got := dialOffer(t, s, "/ws", tc.offer)
			if got != tc.want {
				t.Fatalf("Sec-WebSocket-Extensions %q, want %q", got, tc.want)
			}
			// Whatever was negotiated, the connection works.
			c.Send(ws.OpText, []byte("hello"))
			c.Expect(ws.OpText, []byte("hello"))
		})
	}
}

// TestDeflateEcho: compressed messages in, echoed compressed from the
// threshold up, plain below it or to a client that limited our window.
func TestDeflateEcho(t *testing.T) {
	s := startEngine(t, Config{Echo: true, CompressionThreshold: 100}, nil)
	big := []byte(strings.Repeat(`{"type":"push","data":"hello"}`, 40))
	small := big[:99]
	c, _ := dialOffer(t, s, "/ws", "permessage-deflate")
	for _, tc := range []struct {
		name       string
		wire       []byte
		want       []byte
		compressed bool
	}{
		{"compressed, over the threshold", compressedFrame(t, ws.OpText, big), big, true},
		{"plain, over the threshold", maskedFrame(ws.OpText, true, big), big, true},
		{"compressed, under the threshold", compressedFrame(t, ws.OpText, small), small, false},
		{"compressed binary", compressedFrame(t, ws.OpBinary, big), big, true},
		{"compressed empty", compressedFrame(t, ws.OpBinary, nil), []byte{}, false},
	} {
		c.Write(tc.wire)
		h, p := c.Read()
		got, z := inflated(t, h, p)
		if !bytes.Equal(got, tc.want) || z != tc.compressed {
			t.Fatalf("%s: echo compressed=%v %d bytes, want compressed=%v %d bytes", tc.name, z, len(got), tc.compressed, len(tc.want))
		}
	}
	// A fragmented compressed message with a ping between the fragments.
	z := compressedFrame(t, ws.OpText, big)
	h, hn, _ := frame.ParseHeader(z)
	payload := append([]byte(nil), z[hn:]...)
	ws.Cipher(payload, h.Mask, 0)
	first := maskedFrame(ws.OpText, false, payload[:10])
	first[0] |= 0x40
	c.Write(append(append(first, maskedFrame(ws.OpPing, true, []byte("p"))...), maskedFrame(ws.OpContinuation, true, payload[10:])...))
	c.Expect(ws.OpPong, []byte("p"))
	h, p := c.Read()
	if got, _ := inflated(t, h, p); !bytes.Equal(got, big) {
		t.Fatalf("fragmented compressed message echoed as %d bytes", len(got))
	}

	// A client that limits our window gets plain messages.
	c2, _ := dialOffer(t, s, "/ws", "permessage-deflate; server_max_window_bits=9")
	c2.Write(compressedFrame(t, ws.OpText, big))
	h, p = c2.Read()
	if got, z := inflated(t, h, p); z || !bytes.Equal(got, big) {
		t.Fatalf("window-limited client: compressed=%v, %d bytes", z, len(got))
	}
}

func TestDeflateErrorsCloseWithTheirCode(t *testing.T) {
	s := startEngine(t, Config{Echo: true, MaxMessage: 64 << 10}, nil)
	var zeros bytes.Buffer
	w, _ := flate.NewWriter(&zeros, flate.BestCompression)
	_, _ = w.Write(make([]byte, 8<<20))
	_ = w.Flush()
	bomb := maskedFrame(ws.OpBinary, true, zeros.Bytes()[:zeros.Len()-4])
	bomb[0] |= 0x40
	rsv1 := func(b []byte) []byte { b[0] |= 0x40; return b }
	for _, tc := range []struct {
		name  string
		offer string
		wire  []byte
		code  ws.StatusCode
	}{
		{"bomb: 8 MiB from 8 KiB", "permessage-deflate", bomb, ws.StatusMessageTooBig},
		{"not DEFLATE", "permessage-deflate", rsv1(maskedFrame(ws.OpText, true, []byte{0xff, 0xfe, 0xfd})), ws.StatusInvalidFramePayloadData},
		{"invalid UTF-8 inside", "permessage-deflate", compressedFrame(t, ws.OpText, []byte("ok \xff")), ws.StatusInvalidFramePayloadData},
		{"RSV1 on a continuation", "permessage-deflate", append(maskedFrame(ws.OpText, false, []byte("a")), rsv1(maskedFrame(ws.OpContinuation, true, []byte("b")))...), ws.StatusProtocolError},
		{"RSV1 on a ping", "permessage-deflate", rsv1(maskedFrame(ws.OpPing, true, nil)), ws.StatusProtocolError},
		{"RSV2", "permessage-deflate", func() []byte { b := maskedFrame(ws.OpText, true, []byte("x")); b[0] |= 0x20; return b }(), ws.StatusProtocolError},
		{"RSV1 not negotiated", "", compressedFrame(t, ws.OpText, []byte("hello")), ws.StatusProtocolError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := dialOffer(t, s, "/ws", tc.offer)
			c.Write(tc.wire)
			c.ExpectClose(tc.code)
			c.Send(ws.OpClose, []byte{0x03, 0xe8})
			c.ExpectEOF()
		})
	}
}

// TestBroadcastCompressedOnce: a broadcast to receivers that negotiated
// compression and receivers that did not is compressed once, and the same
// compressed bytes reach every receiver that wants them.
func TestBroadcastCompressedOnce(t *testing.T) {
	s := startEngine(t, Config{}, nil)
	type rx struct {
		c *client
		z bool
	}
	var rxs []rx
	for i := range 20 {
		offer := ""
		if i%2 == 0 {
			offer = "permessage-deflate; client_max_window_bits"
		}
		c, _ := dialOffer(t, s, "/ws?user=u"+string(rune('a'+i)), offer)
		h, p := c.Read()
		if h.OpCode != ws.OpText || !bytes.Contains(p, []byte(`"welcome"`)) {
			t.Fatalf("no welcome: %q", p)
		}
		rxs = append(rxs, rx{c, offer != ""})
	}
	deflated := func() int64 { return s.Counters().Deflated }
	data := json.RawMessage(`{"items":[` + strings.TrimSuffix(strings.Repeat(`{"sku":"A-100","qty":1,"price":"9.90"},`, 30), ",") + `]}`)
	for _, tc := range []struct {
		name string
		data json.RawMessage
		once bool
	}{
		{"1 KB JSON", data, true},
		{"under the threshold", json.RawMessage(`{"n":1}`), false},
	} {
		before := deflated()
		n, err := broadcast(s, tc.data)
		if err != nil || n != len(rxs) {
			t.Fatalf("%s: broadcast reached %d, %v", tc.name, n, err)
		}
		var plain, wire []byte
		for i, r := range rxs {
			h, p := r.c.Read()
			got, z := inflated(t, h, p)
			if z != (r.z && tc.once) {
				t.Fatalf("%s: receiver %d (offered %v) got compressed=%v", tc.name, i, r.z, z)
			}
			if plain == nil {
				plain = got
			} else if !bytes.Equal(got, plain) {
				t.Fatalf("%s: receiver %d got %q, others %q", tc.name, i, got, plain)
			}
			if z {
				if wire == nil {
					wire = p
				} else if !bytes.Equal(p, wire) {
					t.Fatalf("%s: compressed receivers got different bytes", tc.name)
				}
			}
		}
		if !bytes.Contains(plain, tc.data) {
			t.Fatalf("%s: push %q does not carry the data", tc.name, plain)
		}
		want := before
		if tc.once {
			want++
			t.Logf("%s: %d-byte push sent as %d compressed bytes", tc.name, len(plain), len(wire))
		}
		waitFor(t, time.Second, func() error {
			if got := deflated(); got != want {
				return errorf("%s: %d compressions, want %d", tc.name, got-before, want-before)
			}
			return nil
		})
	}
}
