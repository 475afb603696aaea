package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// roomPage is GET /v1/rooms/{room}'s answer as a backend decodes it.
type roomPage struct {
	Room    string   `json:"room"`
	Users   int      `json:"users"`
	Members []string `json:"members"`
	Cursor  string   `json:"cursor"`
}

// roomMembers pages through room with pages of limit on h and returns
// every member, the count of the last page and the number of pages.
func roomMembers(t *testing.T, h http.Handler, room string, limit int) ([]string, int, int) {
	t.Helper()
	var all []string
	count, pages := 0, 0
	cur := ""
	for {
		path := fmt.Sprintf("/v1/rooms/%s?limit=%d", url.PathEscape(room), limit)
		if cur != "" {
			path += "&cursor=" + cur
		}
		status, _, body := callAPI(t, h, "GET", path, "")
		var pg roomPage
		if status != 200 || json.Unmarshal([]byte(body), &pg) != nil || len(pg.Members) > limit {
			t.Fatalf("GET %s: %d %.300s", path, status, body)
		}
		all, count, pages = append(all, pg.Members...), pg.Users, pages+1
		if pg.Cursor == "" {
			return all, count, pages
		}
		cur = pg.Cursor
	}
}

// roomList is GET /v1/rooms's whole list, paged by limit.
func roomList(t *testing.T, h http.Handler, limit int) string {
	t.Helper()
	var out []string
	cur := ""
	for {
		path := fmt.Sprintf("/v1/rooms?limit=%d", limit)
		if cur != "" {
			path += "&cursor=" + cur
		}
		status, _, body := callAPI(t, h, "GET", path, "")
		var pg struct {
			Rooms []struct {
				Room  string `json:"room"`
				Users int    `json:"users"`
			} `json:"rooms"`
			Cursor string `json:"cursor"`
		}
		if status != 200 || json.Unmarshal([]byte(body), &pg) != nil {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		for _, r := range pg.Rooms {
			out = append(out, fmt.Sprintf("%s:%d", r.Room, r.Users))
		}
		if pg.Cursor == "" {
			return strings.Join(out, " ")
		}
		cur = pg.Cursor
	}
}

// waitRoom waits until room lists want (in order) with count users on h.
func waitRoom(t *testing.T, h http.Handler, room string, count int, want ...string) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		got, n, _ := roomMembers(t, h, room, 1)
		if n != count || !slices.Equal(got, want) {
			return fmt.Errorf("room %s: %d users %v, want %d %v", room, n, got, count, want)
		}
		return nil
	})
}

// Members joined by the client, by the backend, and by a token's kept
// rooms are all listed, once per user whatever its connections, and leave
// the list with their last connection.
func TestRoomsAPIListsUsersInNameOrder(t *testing.T) {
	s := startServer(t, Config{})
	h := s.APIHandler()
	a1, a2 := apiDialUser(t, s, "alice"), apiDialUser(t, s, "alice")
	for i, c := range []*client{a1, a2} {
		c.SendJSON(fmt.Sprintf(`{"type":"join","room":"chat","ref":%d}`, i))
		c.ExpectJSON("ack")
	}
	b := apiDialUser(t, s, "bob")
	if _, err := s.AddToRoom(context.Background(), "chat", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	c := apiDialUser(t, s, "carol")
	c.SendJSON(`{"type":"join","room":"other","ref":1}`)
	c.ExpectJSON("ack")
	waitRoom(t, h, "chat", 2, "alice", "bob")
	if got := roomList(t, h, 1); got != "chat:2 other:1" {
		t.Fatalf("rooms %q", got)
	}
	// A kept room: bob's next connection is in chat at once.
	b2 := apiDialUser(t, s, "bob")
	b.NC.Close()
	waitFor(t, 5*time.Second, func() error {
		if s.UserConns("bob") != 1 {
			return errTooEarly
		}
		return nil
	})
	waitRoom(t, h, "chat", 2, "alice", "bob")
	b2.NC.Close()
	waitRoom(t, h, "chat", 1, "alice")
	a1.SendJSON(`{"type":"leave","room":"chat","ref":2}`)
	a1.ExpectJSON("ack")
	waitRoom(t, h, "chat", 1, "alice") // a2 is still in
	a2.NC.Close()
	waitRoom(t, h, "chat", 0)
	if got := roomList(t, h, 10); got != "other:1" {
		t.Fatalf("rooms %q", got)
	}
}

// In a cluster every node lists the members of all nodes alive, each user
// once in the pages; the count adds up the nodes'.
func TestClusterRoomsAPIListsEveryNode(t *testing.T) {
	_, a, b := startPair(t)
	join := func(s *Server, user, room string) *client {
		c := apiDialUser(t, s, user)
		c.SendJSON(`{"type":"join","room":"` + room + `","ref":1}`)
		c.ExpectJSON("ack")
		return c
	}
	join(a, "ann", "chat")
	bc := join(b, "ben", "chat")
	join(b, "ann", "chat") // ann on both nodes
	join(b, "zed", "zzz")
	for _, s := range []*Server{a, b} {
		waitFor(t, 10*time.Second, func() error {
			got, n, _ := roomMembers(t, s.APIHandler(), "chat", 1)
			if n != 3 || strings.Join(got, ",") != "ann,ben" {
				return fmt.Errorf("chat: %d %v", n, got)
			}
			return nil
		})
		waitFor(t, 10*time.Second, func() error {
			if got := roomList(t, s.APIHandler(), 1); got != "chat:3 zzz:1" {
				return fmt.Errorf("rooms %q", got)
			}
			return nil
		})
	}
	bc.NC.Close()
	waitRoom(t, a.APIHandler(), "chat", 2, "ann")
}
