package wire

import (
	"encoding/json"
	"testing"

	"github.com/gobwas/ws"
	"github.com/wspush/wspush/frame"
	"github.com/wspush/wspush/server/internal/history"
)

func TestPushFrameIsOneFrameOfTheEnvelope(t *testing.T) {
	for _, size := range []int{0, 100, 125, 126, 1000, 65535, 65536, 70000} {
		data := make([]byte, size+2)
		data[0], data[len(data)-1] = '"', '"'
		for i := 1; i < len(data)-1; i++ {
			data[i] = 'x'
		}
		f := PushFrame(7, "", data, "room \"1\"", "bob", history.MakePos(1700000000000, 3), 1700000000123)
		h, hn, err := frame.ParseHeader(f)
		if err != nil || hn == 0 {
			t.Fatalf("size %d: header: %v (n %d)", size, err, hn)
		}
		if int(h.Length) != len(f)-hn || !h.Fin {
			t.Fatalf("size %d: header says %d bytes fin %v, frame has %d after it", size, h.Length, h.Fin, len(f)-hn)
		}
		var env map[string]any
		if err := json.Unmarshal(f[hn:], &env); err != nil {
			t.Fatalf("size %d: envelope not JSON: %v", size, err)
		}
		if env["type"] != "push" || env["id"] != "m7" || env["pos"] != "1700000000000-3" || env["room"] != `room "1"` || env["from"] != "bob" || env["ts"] != 1700000000123.0 {
			t.Errorf("size %d: envelope %v", size, env)
		}
	}
}

func TestPushFrameWithoutPosRoomOrFrom(t *testing.T) {
	f := PushFrame(1, "", []byte(`{"a":1}`), "", "", 0, 5)
	_, hn, _ := frame.ParseHeader(f)
	if got, want := string(f[hn:]), `{"type":"push","id":"m1","data":{"a":1},"ts":5}`; got != want {
		t.Errorf("envelope %s, want %s", got, want)
	}
}

func TestPushFrameWithTheBackendsID(t *testing.T) {
	f := PushFrame(9, "order \"7\"", []byte(`1`), "", "", 0, 5)
	_, hn, _ := frame.ParseHeader(f)
	if got, want := string(f[hn:]), `{"type":"push","id":"order \"7\"","data":1,"ts":5}`; got != want {
		t.Errorf("envelope %s, want %s", got, want)
	}
}

func TestTextFrame(t *testing.T) {
	f := TextFrame("abcd")
	h, hn, err := frame.ParseHeader(f)
	if err != nil || !h.Fin || h.OpCode != ws.OpText || h.Length != 4 || string(f[hn:]) != "abcd" {
		t.Errorf("TextFrame %q: header %+v, err %v", f, h, err)
	}
}

func BenchmarkPushFrame(b *testing.B) {
	data := []byte(`{"text":"hello, "", this is a typical push of about a hundred bytes","n":12345}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		_ = PushFrame(12345, "", data, "", "", history.MakePos(1700000000000, 3), 1700000000123)
	}
}
