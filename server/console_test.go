package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const consoleKey = "console-key-for-tests-0123"

// consoleClient is a logged-in session of the console's JSON API.
type consoleClient struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func consoleLogin(t *testing.T, s *Server, key string) *consoleClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &consoleClient{t: t, base: "http://" + s.APIAddr().String(), hc: &http.Client{Jar: jar, Timeout: 15 * time.Second}}
	var si struct{ CSRF string }
	if st := c.do("POST", "/console/api/login", `{"key":"`+key+`"}`, &si); st != 200 {
		t.Fatalf("login: %d", st)
	}
	c.csrf = si.CSRF
	return c
}

func (c *consoleClient) do(method, path, body string, out any) int {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

// The console is on the API listener only: the WebSocket port answers
// /console/ with its 404, and the bearer key does not open it.
func TestConsoleIsOnTheAPIListenerOnly(t *testing.T) {
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey})
	for _, p := range []string{"/console/", "/console/api/session", "/console/static/console.js"} {
		conn, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", p)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil {
			t.Fatalf("%s on the WebSocket port: %v", p, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 404 || strings.Contains(string(b), "console") && !strings.Contains(string(b), "endpoint") {
			t.Fatalf("%s on the WebSocket port: %d %s", p, resp.StatusCode, b)
		}
	}
	resp, err := http.Get("http://" + s.APIAddr().String() + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "console.js") {
		t.Fatalf("/console/ on the API: %d", resp.StatusCode)
	}
	// The bearer key is for the API: the console wants its login.
	req, _ := http.NewRequest("GET", "http://"+s.APIAddr().String()+"/console/api/overview", nil)
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("overview with the bearer key only: %d", resp.StatusCode)
	}
}

// Through the console's API against a real node: find users by prefix
// page by page, read a connection's details, disconnect one with a reason
// its client reads, kick a user, and find both in the ring of recent
// disconnects and the live tail.
func TestConsoleFindsPagesAndDisconnectsRealConnections(t *testing.T) {
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey, Console: ConsoleConfig{Key: consoleKey}})
	c := consoleLogin(t, s, consoleKey)

	// A live tail, open before the clients come.
	req, _ := http.NewRequest("GET", c.base+"/console/api/tail?types=connect,disconnect,push", nil)
	tail, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer tail.Body.Close()
	events := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(tail.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				events <- sc.Text()
			}
		}
		close(events)
	}()
	waitFor(t, 5*time.Second, func() error {
		if !s.watching() {
			return errorf("the tail is not watching yet")
		}
		return nil
	})

	var clients []*client
	for i := range 30 {
		cl, _ := dialAs(t, s, fmt.Sprintf("?user=alpha-%02d&platform=wx&sdk=1.4.0", i), "")
		clients = append(clients, cl)
	}
	for i := range 5 {
		dialAs(t, s, fmt.Sprintf("?user=beta-%d", i), "")
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		var p struct {
			Connections []struct {
				ID             uint64
				User, Platform string
				SDK            string `json:"sdk"`
			}
			Next  string
			Total int
		}
		if st := c.do("GET", "/console/api/connections?prefix=alpha-&limit=7&cursor="+url.QueryEscape(cursor), "", &p); st != 200 {
			t.Fatalf("page: %d", st)
		}
		if p.Total != 35 {
			t.Fatalf("total %d", p.Total)
		}
		for _, r := range p.Connections {
			if r.Platform != "wx" || r.SDK != "1.4.0" {
				t.Fatalf("row %+v", r)
			}
			seen = append(seen, r.User)
		}
		if p.Next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		cursor = p.Next
	}
	if len(seen) != 30 || seen[0] != "alpha-00" || seen[29] != "alpha-29" {
		t.Fatalf("found %v", seen)
	}

	var u struct {
		Connections []struct{ ID uint64 }
	}
	c.do("GET", "/console/api/users/alpha-07", "", &u)
	if len(u.Connections) != 1 {
		t.Fatalf("alpha-07: %+v", u)
	}
	id := u.Connections[0].ID
	var d struct {
		User        string
		Rooms       []string
		QueuedBytes int64 `json:"queued_bytes"`
	}
	if st := c.do("GET", fmt.Sprintf("/console/api/connections/c%d", id), "", &d); st != 200 || d.User != "alpha-07" || d.Rooms == nil {
		t.Fatalf("details: %d %+v", st, d)
	}
	var pr struct{ Delivered int }
	if st := c.do("POST", "/console/api/users/alpha-07/push", `{"data":{"n":1}}`, &pr); st != 200 || pr.Delivered != 1 {
		t.Fatalf("push: %d %+v", st, pr)
	}
	clients[7].ExpectPush(`{"n":1}`)
	if st := c.do("POST", fmt.Sprintf("/console/api/connections/%d/disconnect", id), `{"reason":"support: reinstall the app"}`, nil); st != 200 {
		t.Fatalf("disconnect: %d", st)
	}
	msg := clients[7].ExpectJSON("disconnect")
	if msg["reason"] != "support: reinstall the app" || msg["code"] != float64(4500) {
		t.Fatalf("the client read %v", msg)
	}
	if got := clients[7].ExpectClose(4500); got != "support: reinstall the app" {
		t.Fatalf("close reason %q", got)
	}
	var kick struct{ Closed int }
	c.do("POST", "/console/api/users/alpha-08/kick", `{"reason":"account locked"}`, &kick)
	if kick.Closed != 1 {
		t.Fatalf("kick closed %d", kick.Closed)
	}
	if got := clients[8].ExpectClose(4500); got != "account locked" {
		t.Fatalf("kick's close reason %q", got)
	}
	waitFor(t, 5*time.Second, func() error {
		var v struct {
			Closed []struct {
				Reason, Detail string
				Code           int
			} `json:"recent_disconnects"`
		}
		c.do("GET", "/console/api/users/alpha-07", "", &v)
		if len(v.Closed) != 1 || v.Closed[0].Reason != "kicked" || v.Closed[0].Code != 4500 || v.Closed[0].Detail != "support: reinstall the app" {
			return errorf("recent disconnects %+v", v.Closed)
		}
		return nil
	})
	want := map[string]bool{`"type":"connect"`: false, `"type":"push"`: false, `"type":"disconnect"`: false}
	deadline := time.After(10 * time.Second)
	for missing := 3; missing > 0; {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("the tail ended")
			}
			for k, done := range want {
				if !done && strings.Contains(e, k) {
					want[k] = true
					missing--
				}
			}
		case <-deadline:
			t.Fatalf("the tail did not show %v", want)
		}
	}
}

// In a cluster the overview names every node, from their heartbeats
// through a real Redis, with what each says of itself.
func TestConsoleOverviewListsTheClusterNodes(t *testing.T) {
	r := startRedis(t)
	a := startNode(t, r, "node-a", Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey, Console: ConsoleConfig{Version: "v-test"}})
	b := startNode(t, r, "node-b", Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey, Console: ConsoleConfig{Version: "v-test"}})
	onB, _ := dialAs(t, b, "?user=on-b", "")
	c := consoleLogin(t, a, testAPIKey)
	waitFor(t, 10*time.Second, func() error {
		var o struct {
			Node  string
			Stats struct {
				Cluster struct {
					Nodes    int
					NodeList []struct {
						Node        string
						Version     string
						Connections int64
						Seen        time.Time
					} `json:"node_list"`
				}
			}
		}
		c.do("GET", "/console/api/overview", "", &o)
		l := o.Stats.Cluster.NodeList
		if o.Node != "node-a" || o.Stats.Cluster.Nodes != 2 || len(l) != 2 || l[0].Node != "node-a" || l[1].Node != "node-b" ||
			l[1].Connections != 1 || l[1].Version != "v-test" || l[1].Seen.IsZero() {
			return errorf("overview %+v", o)
		}
		return nil
	})
	// The user page of a names the node where the user is connected.
	var u struct {
		Nodes       map[string]int
		Connections []any
	}
	c.do("GET", "/console/api/users/on-b", "", &u)
	if len(u.Nodes) != 1 || u.Nodes["node-b"] != 1 || len(u.Connections) != 0 {
		t.Fatalf("on-b from node a: %+v", u)
	}
	// A kick through a's console reaches b's client with its reason.
	r.waitSubs("wspush:c", 2)
	var k struct{ Closed int }
	if st := c.do("POST", "/console/api/users/on-b/kick", `{"reason":"kicked from node a"}`, &k); st != 200 || k.Closed != 0 {
		t.Fatalf("kick: %d %+v", st, k)
	}
	if got := onB.ExpectClose(4500); got != "kicked from node a" {
		t.Fatalf("b's client read %q", got)
	}
}

// The user page shows the user's recent history when the server keeps one.
func TestConsoleUserPageShowsTheHistory(t *testing.T) {
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey, HistorySize: 10, HistoryTTL: time.Minute})
	cl, _ := dialAs(t, s, "?user=hist", "")
	c := consoleLogin(t, s, testAPIKey)
	for i := range 3 {
		if st := c.do("POST", "/console/api/users/hist/push", fmt.Sprintf(`{"data":{"n":%d}}`, i), nil); st != 200 {
			t.Fatalf("push %d: %d", i, st)
		}
		cl.ExpectPush(fmt.Sprintf(`{"n":%d}`, i))
	}
	var u struct {
		History   []map[string]any
		HistoryOn bool `json:"history_on"`
	}
	c.do("GET", "/console/api/users/hist", "", &u)
	if !u.HistoryOn || len(u.History) != 3 || u.History[2]["type"] != "push" || u.History[2]["data"].(map[string]any)["n"] != float64(2) {
		t.Fatalf("history %+v", u)
	}
	// Without history the page says so.
	s2 := startServer(t, Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey})
	c2 := consoleLogin(t, s2, testAPIKey)
	u.HistoryOn = true
	c2.do("GET", "/console/api/users/hist", "", &u)
	if u.HistoryOn {
		t.Fatal("history on without --history-size")
	}
}

// The rooms page lists the rooms with users, paged by name, and a room's
// users and connections.
func TestConsoleListsRoomsAndTheirUsers(t *testing.T) {
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey})
	for _, u := range []string{"r1", "r2", "r3"} {
		dialAs(t, s, "?user="+u, "")
	}
	api := newAPIClient(t, s, testAPIKey)
	for _, room := range []string{"room-a", "room-b", "room-c"} {
		if st, _, b := api.call("POST", "/v1/rooms/"+room+"/members", `{"users":["r1","r2"]}`); st != 200 {
			t.Fatalf("join %s: %d %s", room, st, b)
		}
	}
	c := consoleLogin(t, s, testAPIKey)
	var p struct {
		Rooms []struct {
			Room  string
			Users int
		}
		Next string
	}
	c.do("GET", "/console/api/rooms?limit=2", "", &p)
	if len(p.Rooms) != 2 || p.Rooms[0].Room != "room-a" || p.Rooms[0].Users != 2 || p.Next == "" {
		t.Fatalf("first page %+v", p)
	}
	c.do("GET", "/console/api/rooms?limit=2&after="+url.QueryEscape(p.Next), "", &p)
	if len(p.Rooms) != 1 || p.Rooms[0].Room != "room-c" || p.Next != "" {
		t.Fatalf("second page %+v", p)
	}
	var r struct {
		Users       int
		Members     []string
		MembersHere int `json:"members_here"`
		Connections []struct{ User string }
	}
	c.do("GET", "/console/api/rooms/room-b", "", &r)
	if r.Users != 2 || len(r.Members) != 2 || r.Members[0] != "r1" || r.MembersHere != 2 || len(r.Connections) != 2 {
		t.Fatalf("room-b %+v", r)
	}
	// The connections page filtered by a room: its members' connections
	// only, r3 left out.
	var pg struct {
		Connections []struct{ User string }
		Total       int
	}
	if st := c.do("GET", "/console/api/connections?room=room-b", "", &pg); st != 200 || len(pg.Connections) != 2 ||
		pg.Connections[0].User != "r1" || pg.Connections[1].User != "r2" || pg.Total != 3 {
		t.Fatalf("connections in room-b: %d %+v", st, pg)
	}
	if st := c.do("GET", "/console/api/connections?room=nowhere", "", &pg); st != 200 || len(pg.Connections) != 0 {
		t.Fatalf("connections in an empty room: %d %+v", st, pg)
	}
}

// The overview stream sends a point a second, with the event loops' lag
// measured while it is open.
func TestConsoleOverviewStreamSendsPointsWithTheLoopLag(t *testing.T) {
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey})
	dialAs(t, s, "?user=x", "")
	c := consoleLogin(t, s, testAPIKey)
	req, _ := http.NewRequest("GET", c.base+"/console/api/overview/stream", nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	for points := 0; sc.Scan(); {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var ev struct {
			Point struct {
				Connections int64
				LoopLagMs   *float64 `json:"loop_lag_ms"`
			}
		}
		if err := json.Unmarshal([]byte(line[6:]), &ev); err != nil {
			t.Fatal(err)
		}
		points++
		// The first point may be taken before the stream was counted.
		if ev.Point.LoopLagMs != nil && ev.Point.Connections == 1 {
			return
		}
		if points > 3 {
			t.Fatalf("no loop lag in %d points: %s", points, line)
		}
	}
	t.Fatal("the stream ended")
}

// The webhook page shows the backend's failed answers with their status.
func TestConsoleShowsWebhookFailures(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer backend.Close()
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey, Webhook: WebhookConfig{
		URL: backend.URL, Secret: testWebhookSecret, Delay: 10 * time.Millisecond}})
	dialAs(t, s, "?user=w1", "")
	c := consoleLogin(t, s, testAPIKey)
	waitFor(t, 10*time.Second, func() error {
		var w struct {
			Enabled  bool
			Failures []struct {
				Status int
				Final  bool
			}
		}
		c.do("GET", "/console/api/webhook", "", &w)
		if !w.Enabled || len(w.Failures) == 0 || w.Failures[0].Status != 400 || !w.Failures[0].Final {
			return errorf("webhook page %+v", w)
		}
		return nil
	})
}
