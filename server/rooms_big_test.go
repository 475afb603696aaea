package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wstest"
)

// nodeJoinRoom runs server/testdata/join_room.mjs in a process of its own:
// users prefix+lo .. prefix+(hi-1) (five digits) connect to url with
// Node's ws and join room. It returns once they all have, and a function
// that closes them (the process ends).
func nodeJoinRoom(t *testing.T, url, prefix string, lo, hi int, room string) func() {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		wstest.Missing(t, "node is not on PATH")
	}
	clientDir, _ := filepath.Abs(filepath.Join("..", "client"))
	if _, err := os.Stat(filepath.Join(clientDir, "node_modules", "ws", "package.json")); err != nil {
		wstest.Missing(t, "Node's ws is not installed in client/node_modules")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "join_room.mjs"), url, prefix, strconv.Itoa(lo), strconv.Itoa(hi), room)
	cmd.Env = append(os.Environ(), "WSPUSH_CLIENT_DIR="+clientDir)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			in.Close()
			_ = cmd.Wait()
			cancel()
		}
	}
	t.Cleanup(stop)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("join_room.mjs %s%d-%d: %q %v", prefix, lo, hi, line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return stop
}

// apiGet GETs path from a node's API at addr and decodes the answer.
func apiGet(t *testing.T, addr, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, v) != nil {
		t.Fatalf("GET %s: %d %.300s", path, resp.StatusCode, b)
	}
}

// pageAll pages through room on the API at addr by limit.
func pageAll(t *testing.T, addr, room string, limit int) (members []string, count, pages int) {
	t.Helper()
	cur := ""
	for {
		var pg roomPage
		apiGet(t, addr, fmt.Sprintf("/v1/rooms/%s?limit=%d&cursor=%s", room, limit, cur), &pg)
		members, count, pages = append(members, pg.Members...), pg.Users, pages+1
		if pg.Cursor == "" {
			return members, count, pages
		}
		cur = pg.Cursor
	}
}

// A room of 20,000 users on two nodes, each node a process of its own and
// the clients Node's ws in four more, none over 10,000 sockets: each
// node's API pages through all of them, once each and in name order, 1,000
// at a time; 100 of them are connected to both nodes and listed once (the
// count adds up the nodes', as documented); when 5,000 leave, the pages
// and the count follow.
func TestClusterRoomsAPIPagesTwentyThousandMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 connections")
	}
	r := startRedis(t)
	a, b := startNodeProc(t, r.Server, "a"), startNodeProc(t, r.Server, "b")
	urlA, urlB := "ws://"+a.wsAddr()+"/ws", "ws://"+b.wsAddr()+"/ws"
	nodeJoinRoom(t, urlA, "m", 0, 5000, "big")
	nodeJoinRoom(t, urlA, "m", 5000, 10000, "big")
	nodeJoinRoom(t, urlB, "m", 10000, 15000, "big")
	last := nodeJoinRoom(t, urlB, "m", 15000, 20000, "big")
	nodeJoinRoom(t, urlB, "m", 0, 100, "big") // on both nodes
	var want []string
	for i := range 20000 {
		want = append(want, fmt.Sprintf("m%05d", i))
	}
	check := func(n, count int) {
		t.Helper()
		waitFor(t, 30*time.Second, func() error {
			var pg roomPage
			apiGet(t, a.apiAddr(), "/v1/rooms/big?limit=1", &pg)
			if pg.Users != count {
				return fmt.Errorf("big has %d users, want %d", pg.Users, count)
			}
			return nil
		})
		for _, addr := range []string{a.apiAddr(), b.apiAddr()} {
			got, c, pages := pageAll(t, addr, "big", 1000)
			if c != count || !slices.Equal(got, want[:n]) {
				t.Fatalf("%s: %d members (count %d), first %v, last %v; want %d (count %d)", addr, len(got), c, got[:min(2, len(got))], got[max(0, len(got)-2):], n, count)
			}
			if pages != (n+999)/1000 {
				t.Errorf("%d pages of 1000 for %d members", pages, n)
			}
		}
		var rooms struct {
			Rooms []struct {
				Room  string `json:"room"`
				Users int    `json:"users"`
			} `json:"rooms"`
		}
		apiGet(t, b.apiAddr(), "/v1/rooms", &rooms)
		if len(rooms.Rooms) != 1 || rooms.Rooms[0].Room != "big" || rooms.Rooms[0].Users != count {
			t.Fatalf("rooms %+v", rooms)
		}
	}
	check(20000, 20100)
	last()
	check(15000, 15100)
}
