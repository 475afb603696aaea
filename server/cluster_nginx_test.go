package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestClusterOfThreeBehindNginx runs docs/cluster.md's upstream block with
// three nodes and one Redis: clients connect through nginx, land on
// different nodes, and a push through one node's API reaches them all.
func TestClusterOfThreeBehindNginx(t *testing.T) {
	nginx := findNginx(t)
	r := startRedis(t)
	nodes := []*Server{
		startNode(t, r, "n1", clusterConfig()),
		startNode(t, r, "n2", clusterConfig()),
		startNode(t, r, "n3", clusterConfig()),
	}
	dir := t.TempDir()
	addr := startNginx(t, nginx, dir, func(listen string) string { return clusterSite(t, listen, nodes) })

	var cs []*client
	for i := range 3 {
		c := dialVia(t, addr, "/ws?user=u"+strconv.Itoa(i))
		c.ExpectJSON("welcome")
		cs = append(cs, c)
	}
	on := 0
	for _, n := range nodes {
		if n.Conns() > 0 {
			on++
		}
	}
	if on < 2 {
		t.Fatalf("least_conn put the three clients on %d node(s)", on)
	}
	for i := range 3 {
		r.waitSubs("wspush:u:"+"u"+strconv.Itoa(i), 1)
	}
	res, err := nodes[0].Push(context.Background(), []string{"u0", "u1", "u2"}, json.RawMessage(`"hello"`))
	if err != nil || len(res.Online) != 3 {
		t.Fatalf("push: %+v %v", res, err)
	}
	for _, c := range cs {
		c.ExpectPush(`"hello"`)
	}
}

// clusterSite is the http block of docs/cluster.md's upstream, its
// servers replaced by the nodes, and a plain-HTTP /ws location as in
// docs/deploy/nginx.conf (TLS is deploy_test.go's business).
func clusterSite(t *testing.T, listen string, nodes []*Server) string {
	t.Helper()
	doc, err := os.ReadFile("../docs/cluster.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)upstream wspush \{.*?\n\}`).FindString(string(doc))
	if block == "" || !strings.Contains(block, "least_conn;") {
		t.Fatal("docs/cluster.md has no upstream wspush block with least_conn")
	}
	servers := regexp.MustCompile(`(?m)^\s*server \S+ max_fails=3 fail_timeout=10s;\n`).FindAllString(block, -1)
	if len(servers) != len(nodes) {
		t.Fatalf("docs/cluster.md's upstream lists %d servers, want %d", len(servers), len(nodes))
	}
	for i, s := range servers {
		block = strings.Replace(block, s, "    server "+nodes[i].Addr().String()+" max_fails=3 fail_timeout=10s;\n", 1)
	}
	return fmt.Sprintf(`    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }
    %[1]s
    server {
        listen %[2]s;
        location = /ws {
            proxy_pass http://wspush;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 120s;
            proxy_buffering off;
        }
    }`, block, listen)
}

// dialVia upgrades path through addr, retrying while nginx starts.
func dialVia(t *testing.T, addr, path string) *client {
	t.Helper()
	var c *client
	waitFor(t, 5*time.Second, func() error {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		t.Cleanup(func() { nc.Close() })
		c = &client{T: t, NC: nc, BR: bufio.NewReader(nc)}
		return nil
	})
	c.Write([]byte(upgradeRequest(path)))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	return c
}
