package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Receipts across two nodes sharing one Redis: the push goes through
// node a, the acknowledgement reaches node b, either node answers the
// state, a forger on b changes nothing, and after node a stops, node b
// tells the webhook of the users who did not acknowledge, once; a node a
// started again reads the same receipts.
func TestReceiptsAcrossTwoNodes(t *testing.T) {
	python, node := interopClients(t)
	rc := newReceiver(t, nil)
	r := startRedis(t)
	clock := &manualClock{t: time.UnixMilli(1700000000000)}
	cfg := clusterConfig()
	cfg.clock = clock.now
	cfg.Webhook = WebhookConfig{URL: rc.srv.URL, Secret: testWebhookSecret, Delay: 10 * time.Millisecond, Events: []string{"connect"}}
	a, b := startNode(t, r, "a", cfg), startNode(t, r, "b", cfg)
	py := runPeer(t, python, "testdata/receipts.py", "ws://"+b.Addr().String()+Path+"?user=py", "ack")
	nd := runPeer(t, node, "testdata/receipts.mjs", "ws://"+a.Addr().String()+Path+"?user=nd", "noack")
	py.wait("welcome", "")
	nd.wait("welcome", "")
	r.waitSubs("wspush:u:py", 1)
	r.waitSubs("wspush:u:nd", 1)

	code, ans := pushAPI(t, a, `{"users":["py","nd","off"],"data":{"order":2},"receipt":{"timeout":"30s"}}`)
	id, _ := ans["id"].(string)
	if code != 200 || id == "" {
		t.Fatalf("push: %d %v", code, ans)
	}
	m := py.wait("push", id)
	key, _ := m["receipt"].(string)
	if key == "" {
		t.Fatalf("python on b got %v", m)
	}
	nd.wait("push", id)
	mal := runPeer(t, python, "testdata/receipts.py", "ws://"+b.Addr().String()+Path+"?user=mallory", "forge:"+key+","+id)
	mal.wait("ack", "")
	// Applied in Redis, and ignored, before the states are read.
	waitFor(t, 5*time.Second, func() error {
		if body := getBody(t, b.APIHandler(), "/metrics"); !strings.Contains(body, "wspush_receipt_acks_ignored_total 2") {
			return fmt.Errorf("the forged acknowledgement is not counted as ignored on b")
		}
		return nil
	})
	want := map[string]string{"py": "received", "nd": "pending", "off": "pending"}
	wantStates(t, a, id, want)
	wantStates(t, b, id, want)

	// Node a, which took the push, goes away before the timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	clock.set(clock.get().Add(30 * time.Second))
	wantStates(t, b, id, map[string]string{"py": "received", "nd": "undelivered", "off": "undelivered"})
	// The barrier (receipts_test.go): a second message's event after it.
	if code, ans := pushAPI(t, b, `{"users":["off"],"data":"barrier","id":"barrier","receipt":{"timeout":"1s"}}`); code != 200 {
		t.Fatalf("barrier: %d %v", code, ans)
	}
	clock.set(clock.get().Add(time.Second))
	var evs []receiptEvent
	waitFor(t, 5*time.Second, func() error {
		if evs = receiptEvents(rc, "message.undelivered"); len(evs) < 2 {
			return fmt.Errorf("undelivered events %+v", evs)
		}
		return nil
	})
	if len(evs) != 2 || evs[0].Message != id || !slices.Equal(evs[0].Users, []string{"nd", "off"}) || string(evs[0].Data) != `{"order":2}` || evs[1].Message != "barrier" {
		t.Fatalf("undelivered events %+v, want %s's once for nd and off with the data, then the barrier's", evs, id)
	}
	a2 := startNode(t, r, "a", cfg)
	wantStates(t, a2, id, map[string]string{"py": "received", "nd": "undelivered", "off": "undelivered"})
}

// The cap counts the whole cluster's pending receipts in Redis: a push
// through either node past it is refused whole (503 receipts_full), and
// an acknowledgement on the other node frees room.
func TestReceiptsCapAcrossTwoNodes(t *testing.T) {
	r := startRedis(t)
	cfg := clusterConfig()
	cfg.MaxReceipts = 2
	a, b := startNode(t, r, "a", cfg), startNode(t, r, "b", cfg)
	c, _ := dialAs(t, b, "?user=u1", "")
	r.waitSubs("wspush:u:u1", 1)
	if code, ans := pushAPI(t, a, `{"users":["u1","u2"],"data":1,"id":"c1","receipt":{"timeout":"1m"}}`); code != 200 {
		t.Fatalf("first: %d %v", code, ans)
	}
	m := c.ExpectJSON("push")
	code, hdr, out := callAPI(t, b.APIHandler(), "POST", "/v1/push", `{"users":["u1"],"data":2,"id":"c2","receipt":{"timeout":"1m"}}`)
	if code != 503 || hdr.Get("Retry-After") != "1" || !strings.Contains(out, `"error":"receipts_full"`) {
		t.Fatalf("past the cluster's cap through the other node: %d %v %s", code, hdr, out)
	}
	c.SendJSON(`{"type":"received","ids":["` + m["receipt"].(string) + `"]}`)
	wantStates(t, a, "c1", map[string]string{"u1": "received", "u2": "pending"})
	if code, ans := pushAPI(t, a, `{"users":["u1"],"data":3,"id":"c3","receipt":{"timeout":"1m"}}`); code != 200 {
		t.Fatalf("after an acknowledgement freed room: %d %v", code, ans)
	}
	if m := c.ExpectJSON("push"); m["id"] != "c3" {
		t.Fatalf("got %v, want c3 (c2 was refused)", m)
	}
}

// On Redis Cluster the receipts' keys share one slot ({rc}): a push
// through one node, its acknowledgement through another, and the
// timeout's one message.undelivered.
func TestReceiptsOnRedisCluster(t *testing.T) {
	rc := startRedisCluster(t)
	hook := newReceiver(t, nil)
	clock := &manualClock{t: time.UnixMilli(1700000000000)}
	node := func(name string) *Server {
		return startPlain(t, Config{Redis: rc.URL(), RedisPassword: rc.Password, Node: name, clock: clock.now,
			Webhook: WebhookConfig{URL: hook.srv.URL, Secret: testWebhookSecret, Delay: 10 * time.Millisecond, Events: []string{"connect"}}})
	}
	a, b := node("a"), node("b")
	c, _ := dialAs(t, b, "?user=rc1", "")
	waitShardSubs(t, rc, "u:rc1", 1)
	code, ans := pushAPI(t, a, `{"users":["rc1","rc2"],"data":{"n":1},"id":"rcm","receipt":{"timeout":"10s"}}`)
	if code != 200 || ans["id"] != "rcm" {
		t.Fatalf("push: %d %v", code, ans)
	}
	m := c.ExpectJSON("push")
	c.SendJSON(`{"type":"received","ids":["` + m["receipt"].(string) + `"]}`)
	wantStates(t, a, "rcm", map[string]string{"rc1": "received", "rc2": "pending"})
	clock.set(clock.get().Add(10 * time.Second))
	wantStates(t, b, "rcm", map[string]string{"rc1": "received", "rc2": "undelivered"})
	// The barrier (receipts_test.go): a second message's event after it.
	if code, ans := pushAPI(t, b, `{"users":["rc3"],"data":"barrier","id":"barrier","receipt":{"timeout":"1s"}}`); code != 200 {
		t.Fatalf("barrier: %d %v", code, ans)
	}
	clock.set(clock.get().Add(time.Second))
	var evs []receiptEvent
	waitFor(t, 5*time.Second, func() error {
		if evs = receiptEvents(hook, "message.undelivered"); len(evs) < 2 {
			return fmt.Errorf("undelivered events %+v", evs)
		}
		return nil
	})
	if e := evs[0]; len(evs) != 2 || e.Message != "rcm" || !slices.Equal(e.Users, []string{"rc2"}) || string(e.Data) != `{"n":1}` || evs[1].Message != "barrier" {
		t.Fatalf("events %+v, want rcm's once, then the barrier's", evs)
	}
}
