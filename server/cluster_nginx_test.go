package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClusterOfThreeBehindNginx runs docs/cluster.md's upstream block with
// three nodes and one Redis: clients connect through nginx, land on
// different nodes, and a push through one node's API reaches them all.
func TestClusterOfThreeBehindNginx(t *testing.T) {
	nginx := ""
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			nginx = path
			break
		}
	}
	if nginx == "" {
		t.Fatal("nginx is not installed: make deps installs it (apt-get install nginx)")
	}
	r := startRedis(t)
	nodes := []*Server{
		startNode(t, r, "n1", clusterConfig()),
		startNode(t, r, "n2", clusterConfig()),
		startNode(t, r, "n3", clusterConfig()),
	}
	dir := t.TempDir()
	port := freePort(t)
	writeNginx(t, dir, port, nodes)
	startNginxAt(t, nginx, dir)

	var cs []*client
	for i := range 3 {
		c := dialVia(t, "127.0.0.1:"+strconv.Itoa(port), "/ws?user=u"+strconv.Itoa(i))
		c.expectJSON("welcome")
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
		r.waitSubs(chUser+"u"+strconv.Itoa(i), 1)
	}
	res, err := nodes[0].Push(context.Background(), []string{"u0", "u1", "u2"}, json.RawMessage(`"hello"`))
	if err != nil || len(res.Online) != 3 {
		t.Fatalf("push: %+v %v", res, err)
	}
	for _, c := range cs {
		c.expectPush(`"hello"`)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeNginx writes nginx.conf with docs/cluster.md's upstream block, its
// servers replaced by the nodes, and a plain-HTTP /ws location as in
// docs/deploy/nginx.conf (TLS is deploy_test.go's business).
func writeNginx(t *testing.T, dir string, port int, nodes []*Server) {
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
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }
    %[2]s
    server {
        listen 127.0.0.1:%[3]d;
        location = /ws {
            proxy_pass http://wspush;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 120s;
            proxy_buffering off;
        }
    }
}
`, dir, block, port)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startNginxAt runs nginx in the foreground on dir/nginx.conf until the
// test ends.
func startNginxAt(t *testing.T, nginx, dir string) {
	t.Helper()
	args := []string{"-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf")}
	if out, err := exec.Command(nginx, append([]string{"-t"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(nginx, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
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
		c = &client{t: t, nc: nc, br: bufio.NewReader(nc)}
		return nil
	})
	c.write([]byte(upgradeRequest(path)))
	c.expectStatus(http.StatusSwitchingProtocols)
	return c
}
