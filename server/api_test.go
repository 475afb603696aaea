package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wire"

	"github.com/gobwas/ws"
)

// These tests drive the whole server through its HTTP API and assert what
// reaches real clients (delivery, kicks, presence, stats, metrics, health
// while draining). The API's own handling (statuses, JSON reasons,
// validation, limits, keys, Host and Content-Type checks, the demo page)
// is tested against a fake backend in internal/api.

const testAPIKey = "test-key"

// apiClient calls a test server's HTTP API.
type apiClient struct {
	t    *testing.T
	base string
	key  string // sent as a bearer key unless empty
	hc   *http.Client
}

// newAPIClient returns a client of s's API that sends key. Its idle
// connections close before the server shuts down, so that no goroutine
// outlives the test.
func newAPIClient(t *testing.T, s *Server, key string) *apiClient {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &apiClient{t: t, base: "http://" + s.APIAddr().String(), key: key, hc: &http.Client{Transport: tr}}
}

// call sends one request and returns the answer's status, header and body.
func (a *apiClient) call(method, path, body string) (int, http.Header, string) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	if a.key != "" {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// do sends one request, checks that it answers 200 and decodes the JSON
// answer into v.
func (a *apiClient) do(method, path, body string, v any) {
	a.t.Helper()
	status, _, got := a.call(method, path, body)
	if status != http.StatusOK {
		a.t.Fatalf("%s %s: status %d, want 200; body %s", method, path, status, got)
	}
	if err := json.Unmarshal([]byte(got), v); err != nil {
		a.t.Fatalf("%s %s: answer %q: %v", method, path, got, err)
	}
}

// apiDialUser connects as user in development mode and reads the welcome.
func apiDialUser(t testing.TB, s *Server, user string) *client {
	t.Helper()
	c := dial(t, s)
	c.Write([]byte(upgradeRequest("/ws?user=" + url.QueryEscape(user))))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	var w struct{ Type, User string }
	h, p := c.Read()
	if err := json.Unmarshal(p, &w); h.OpCode != ws.OpText || err != nil || w.Type != "welcome" || w.User != user {
		t.Fatalf("got %v %q, want the welcome of %s", h.OpCode, p, user)
	}
	return c
}

// apiTwoUsers connects alice and bob with two connections each.
func apiTwoUsers(t *testing.T, s *Server) (a1, a2, b1, b2 *client) {
	t.Helper()
	return apiDialUser(t, s, "alice"), apiDialUser(t, s, "alice"), apiDialUser(t, s, "bob"), apiDialUser(t, s, "bob")
}

func startAPIServer(t *testing.T) (*Server, *apiClient) {
	t.Helper()
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey})
	return s, newAPIClient(t, s, testAPIKey)
}

func TestAPIPushReachesEveryConnectionOfItsUserOnly(t *testing.T) {
	s, api := startAPIServer(t)
	a1, a2, b1, b2 := apiTwoUsers(t, s)

	var res PushResult
	api.do("POST", "/v1/push", `{"users":["alice","carol","alice"],"data":{"n":1}}`, &res)
	if res.Delivered != 2 || fmt.Sprint(res.Online) != "[alice]" || fmt.Sprint(res.Offline) != "[carol]" {
		t.Fatalf("push answered %+v, want 2 delivered, alice online, carol offline", res)
	}
	a1.ExpectPushData(`{"n":1}`, "")
	a2.ExpectPushData(`{"n":1}`, "")

	// Had bob been sent alice's push, it would come before this one.
	api.do("POST", "/v1/push", `{"users":["bob"],"data":"marker"}`, &res)
	if res.Delivered != 2 {
		t.Fatalf("push to bob delivered %d, want 2", res.Delivered)
	}
	b1.ExpectPushData(`"marker"`, "")
	b2.ExpectPushData(`"marker"`, "")
}

func TestAPIPushAnswersWithEmptyListsNotNull(t *testing.T) {
	_, api := startAPIServer(t)
	_, _, body := api.call("POST", "/v1/push", `{"users":["nobody"],"data":1}`)
	if want := `{"delivered":0,"online":[],"offline":["nobody"]}` + "\n"; body != want {
		t.Fatalf("answer %q, want %q", body, want)
	}
}

func TestAPIPublishReachesRoomMembersOnly(t *testing.T) {
	s, api := startAPIServer(t)
	a1, a2, b1, b2 := apiTwoUsers(t, s)

	// alice joins from one connection; the backend adds both of bob's.
	a1.Send(ws.OpText, []byte(`{"type":"join","room":"r","ref":1}`))
	a1.Expect(ws.OpText, []byte(`{"type":"ack","ref":1}`))
	var joined struct{ Joined int }
	api.do("POST", "/v1/rooms/r/members", `{"users":["bob","carol"]}`, &joined)
	if joined.Joined != 2 {
		t.Fatalf("joined %d connections, want 2", joined.Joined)
	}
	api.do("POST", "/v1/rooms/r/members", `{"users":["bob"]}`, &joined)
	if joined.Joined != 0 {
		t.Fatalf("joining again counted %d connections, want 0", joined.Joined)
	}

	var d struct{ Delivered int }
	api.do("POST", "/v1/rooms/r/publish", `{"data":"hi"}`, &d)
	if d.Delivered != 3 {
		t.Fatalf("publish delivered %d, want 3", d.Delivered)
	}
	for _, c := range []*client{a1, b1, b2} {
		c.ExpectPushData(`"hi"`, "r")
	}
	// Had a2 been sent the room message, it would come before this push.
	api.do("POST", "/v1/push", `{"users":["alice"],"data":"marker"}`, &PushResult{})
	a2.ExpectPushData(`"marker"`, "")
	a1.ExpectPushData(`"marker"`, "")

	var left struct{ Left int }
	api.do("DELETE", "/v1/rooms/r/members", `{"users":["bob"]}`, &left)
	if left.Left != 2 {
		t.Fatalf("left %d connections, want 2", left.Left)
	}
	api.do("POST", "/v1/rooms/r/publish", `{"data":"again"}`, &d)
	if d.Delivered != 1 {
		t.Fatalf("publish after bob left delivered %d, want 1", d.Delivered)
	}
	a1.ExpectPushData(`"again"`, "r")

	api.do("POST", "/v1/rooms/empty/publish", `{"data":1}`, &d)
	if d.Delivered != 0 {
		t.Fatalf("publish to a room without members delivered %d", d.Delivered)
	}
}

func TestAPIBroadcastReachesAll(t *testing.T) {
	s, api := startAPIServer(t)
	a1, a2, b1, b2 := apiTwoUsers(t, s)
	var d struct{ Delivered int }
	api.do("POST", "/v1/broadcast", `{"data":[1,2,3]}`, &d)
	if d.Delivered != 4 {
		t.Fatalf("broadcast delivered %d, want 4", d.Delivered)
	}
	for _, c := range []*client{a1, a2, b1, b2} {
		c.ExpectPushData(`[1,2,3]`, "")
	}
}

func TestAPIKickSendsDisconnectThenCloses(t *testing.T) {
	s, api := startAPIServer(t)
	a1, a2, b1, _ := apiTwoUsers(t, s)

	var kicked struct{ Closed int }
	api.do("DELETE", "/v1/users/alice/connections", "", &kicked)
	if kicked.Closed != 2 {
		t.Fatalf("closed %d connections, want 2", kicked.Closed)
	}
	for _, c := range []*client{a1, a2} {
		var d struct {
			Type      string `json:"type"`
			Code      int    `json:"code"`
			Reason    string `json:"reason"`
			Reconnect bool   `json:"reconnect"`
		}
		h, p := c.Read()
		if err := json.Unmarshal(p, &d); h.OpCode != ws.OpText || err != nil {
			t.Fatalf("got %v %q, want the disconnect message", h.OpCode, p)
		}
		if d.Type != "disconnect" || d.Code != 4500 || d.Reconnect || d.Reason == "" {
			t.Fatalf("got %s, want a disconnect with code 4500 and reconnect false", p)
		}
		c.ExpectClose(4500)
		// RFC 6455 5.5.1: the client answers the close; the server then
		// drops TCP.
		c.Send(ws.OpClose, binary.BigEndian.AppendUint16(nil, 4500))
		c.ExpectEOF()
	}

	waitFor(t, 5*time.Second, func() error {
		var p Presence
		api.do("GET", "/v1/users/alice", "", &p)
		if p.Online || p.Connections != 0 {
			return fmt.Errorf("alice still has %d connections", p.Connections)
		}
		if n := s.eng.Counters().Closes[wire.ReasonKicked]; n != 2 {
			return fmt.Errorf("%d closes counted as kicked, want 2", n)
		}
		return nil
	})
	api.do("DELETE", "/v1/users/alice/connections", "", &kicked)
	if kicked.Closed != 0 {
		t.Fatalf("kicking an offline user closed %d", kicked.Closed)
	}
	// bob stays.
	var res PushResult
	api.do("POST", "/v1/push", `{"users":["bob"],"data":1}`, &res)
	if res.Delivered != 2 {
		t.Fatalf("push to bob after the kick delivered %d, want 2", res.Delivered)
	}
	b1.ExpectPushData(`1`, "")
}

func TestAPIPresenceAndStats(t *testing.T) {
	s, api := startAPIServer(t)
	a1, _, _, _ := apiTwoUsers(t, s)

	if _, _, body := api.call("GET", "/v1/users/alice", ""); body != `{"user":"alice","online":true,"connections":2}`+"\n" {
		t.Fatalf("presence of alice: %s", body)
	}
	if _, _, body := api.call("GET", "/v1/users/carol", ""); body != `{"user":"carol","online":false,"connections":0}`+"\n" {
		t.Fatalf("presence of carol: %s", body)
	}
	// A user id with a space and a slash, escaped in the path.
	c := apiDialUser(t, s, "x y/z")
	if _, _, body := api.call("GET", "/v1/users/x%20y%2Fz", ""); body != `{"user":"x y/z","online":true,"connections":1}`+"\n" {
		t.Fatalf("presence of an escaped user id: %s", body)
	}
	c.Send(ws.OpClose, nil)
	c.ExpectClose(0)
	c.ExpectEOF()

	a1.Send(ws.OpText, []byte(`{"type":"ping"}`))
	a1.Expect(ws.OpText, []byte(`{"type":"pong"}`))
	a1.Send(ws.OpText, []byte(`{"type":"join","room":"r","ref":"j"}`))
	a1.Expect(ws.OpText, []byte(`{"type":"ack","ref":"j"}`))
	api.do("POST", "/v1/push", `{"users":["bob"],"data":1}`, &PushResult{})

	var st Stats
	waitFor(t, 5*time.Second, func() error {
		api.do("GET", "/v1/stats", "", &st)
		if st.Connections != 4 {
			return fmt.Errorf("%d connections, want 4", st.Connections)
		}
		return nil
	})
	switch {
	case st.Users != 2 || st.Rooms != 1 || st.Upgrades != 5:
		t.Fatalf("stats %+v: want 2 users, 1 room, 5 upgrades", st)
	case st.MessagesIn != 2 || st.MessagesOut != 2:
		t.Fatalf("stats %+v: want 2 messages in, 2 out", st)
	case st.BytesIn == 0 || st.BytesOut == 0 || st.RSSBytes == 0 || st.Goroutines == 0 || st.UptimeSeconds < 0 || st.Draining:
		t.Fatalf("stats %+v: want bytes, memory and goroutines counted", st)
	}
	_, _, body := api.call("GET", "/v1/stats", "")
	for _, k := range []string{"connections", "users", "rooms", "messages_in", "messages_out", "bytes_in", "bytes_out", "upgrades", "rss_bytes", "goroutines", "uptime_seconds"} {
		if !strings.Contains(body, `"`+k+`":`) {
			t.Errorf("stats %s lack %q", body, k)
		}
	}
}

func TestAPIHealthz(t *testing.T) {
	s, api := startAPIServer(t)
	open := newAPIClient(t, s, "")
	status, h, body := open.call("GET", "/healthz", "")
	// startAPIServer has no JWT secret: development mode, which it says.
	if status != 200 || body != `{"auth":"development","status":"ok"}`+"\n" || h.Get("Content-Type") != "application/json" {
		t.Fatalf("healthz without a key: %d %s", status, body)
	}
	if status, _, _ := api.call("HEAD", "/healthz", ""); status != 200 {
		t.Fatalf("HEAD /healthz: %d", status)
	}
	// While draining, load balancers must stop sending clients.
	s.eng.Drain(context.Background())
	status, _, body = open.call("GET", "/healthz", "")
	if status != 503 || !strings.Contains(body, `"error":"draining"`) {
		t.Fatalf("healthz while draining: %d %s", status, body)
	}
}

func TestAPIMetricsCountAPush(t *testing.T) {
	s, api := startAPIServer(t)
	a1 := apiDialUser(t, s, "alice")
	api.do("POST", "/v1/push", `{"users":["alice"],"data":1}`, &PushResult{})
	a1.ExpectPushData(`1`, "")
	api.do("POST", "/v1/broadcast", `{"data":2}`, &struct{}{})
	a1.ExpectPushData(`2`, "")

	status, h, body := api.call("GET", "/metrics", "")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", status, h.Get("Content-Type"))
	}
	for _, want := range []string{
		"wspush_connections 1\n",
		"wspush_users 1\n",
		"wspush_rooms 0\n",
		"wspush_upgrades_total 1\n",
		`wspush_upgrades_rejected_total{status="401"} 0` + "\n",
		"wspush_messages_in_total 0\n",
		"wspush_messages_out_total 2\n",
		"wspush_bytes_in_total ",
		"wspush_bytes_out_total ",
		`wspush_closes_total{reason="slow_consumer"} 0` + "\n",
		`wspush_closes_total{reason="kicked"} 0` + "\n",
		`wspush_pushes_total{kind="push",result="ok"} 1` + "\n",
		`wspush_pushes_total{kind="broadcast",result="ok"} 1` + "\n",
		`wspush_pushes_total{kind="publish",result="ok"} 0` + "\n",
		`wspush_pushes_total{kind="push",result="error"} 0` + "\n",
		`wspush_push_duration_seconds_count{kind="push"} 1` + "\n",
		`wspush_push_duration_seconds_bucket{kind="push",le="+Inf"} 1` + "\n",
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}

func TestAPIRoomMembershipOutlivesAReconnect(t *testing.T) {
	s, api := startAPIServer(t)
	bob := apiDialUser(t, s, "bob")
	var joined struct{ Joined int }
	api.do("POST", "/v1/rooms/news/members", `{"users":["bob","carol"]}`, &joined)
	if joined.Joined != 1 {
		t.Fatalf("joined %d connections, want bob's one", joined.Joined)
	}
	// bob's mini-program loses its socket and comes back; carol, offline
	// when the backend added her, connects for the first time.
	bob.Send(ws.OpClose, []byte{0x03, 0xe8})
	bob.ExpectClose(ws.StatusNormalClosure)
	bob.ExpectEOF()
	bob, carol := apiDialUser(t, s, "bob"), apiDialUser(t, s, "carol")

	var d struct{ Delivered int }
	api.do("POST", "/v1/rooms/news/publish", `{"data":"extra"}`, &d)
	if d.Delivered != 2 {
		t.Fatalf("publish delivered %d, want bob's and carol's new connections", d.Delivered)
	}
	bob.ExpectPushData(`"extra"`, "news")
	carol.ExpectPushData(`"extra"`, "news")

	// Taken out, bob's next connection stays out too.
	var left struct{ Left int }
	api.do("DELETE", "/v1/rooms/news/members", `{"users":["bob"]}`, &left)
	bob2 := apiDialUser(t, s, "bob")
	api.do("POST", "/v1/rooms/news/publish", `{"data":"later"}`, &d)
	if d.Delivered != 1 {
		t.Fatalf("publish after DELETE delivered %d, want carol's only", d.Delivered)
	}
	carol.ExpectPushData(`"later"`, "news")
	api.do("POST", "/v1/push", `{"users":["bob"],"data":"marker"}`, &PushResult{})
	bob2.ExpectPushData(`"marker"`, "")
}
