package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/wspush/wspush/server"
)

// The production path, for real: Debian's nginx terminates TLS with
// docs/deploy/nginx.conf in front of a wspush server, a client connects
// with wss:// trusting the test's CA, and receives a push that the backend
// sends through the API.

const nginxConf = "docs/deploy/nginx.conf"

func TestNginxTerminatesTLSInFrontOfWspush(t *testing.T) {
	nginx := findNginx(t)
	dir := t.TempDir()
	ca := writeTestCerts(t, dir)

	// The backend's webhook, to see the client address nginx passes on.
	var mu sync.Mutex
	var connects []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch struct{ Events []map[string]any }
		_ = json.NewDecoder(r.Body).Decode(&batch)
		mu.Lock()
		connects = append(connects, batch.Events...)
		mu.Unlock()
	}))
	defer hook.Close()

	srv := server.New(server.Config{
		Addr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Loops: 1,
		Webhook: server.WebhookConfig{URL: hook.URL, Events: []string{server.EventConnect}, Delay: 10 * time.Millisecond},
	})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-errc:
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-errc
	}()

	port := freePort(t)
	startNginx(t, nginx, dir, siteConf(t, dir, port, srv.Addr().String()))

	// A mini-program's view: wss://, the server's certificate checked.
	d := ws.Dialer{TLSConfig: &tls.Config{RootCAs: ca, ServerName: "localhost"}, Timeout: 5 * time.Second}
	var nc net.Conn
	waitUntil(t, 10*time.Second, func() error {
		var err error
		nc, _, _, err = d.Dial(context.Background(), "wss://"+port+"/ws?user=alice")
		return err
	})
	defer nc.Close()
	if msg := readJSON(t, nc); msg["type"] != "welcome" || msg["user"] != "alice" {
		t.Fatalf("first message %v, want alice's welcome", msg)
	}

	resp, err := http.Post("http://"+srv.APIAddr().String()+"/v1/push", "application/json",
		strings.NewReader(`{"users":["alice"],"data":{"text":"over TLS"}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"delivered":1`) {
		t.Fatalf("push answered %d %s", resp.StatusCode, body)
	}
	msg := readJSON(t, nc)
	if data, _ := msg["data"].(map[string]any); msg["type"] != "push" || data["text"] != "over TLS" {
		t.Fatalf("got %v, want the push", msg)
	}

	// nginx passed the client's own address on as X-Real-IP.
	waitUntil(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(connects) == 0 {
			return fmt.Errorf("no connect event")
		}
		if connects[0]["ip"] != "127.0.0.1" {
			return fmt.Errorf("connect event %v: want ip 127.0.0.1 from X-Real-IP", connects[0])
		}
		return nil
	})
}

// TestNginxTimeoutsOutlastPings holds the config's timeouts above what
// wspush needs: nginx must never be the one to cut an idle connection.
func TestNginxTimeoutsOutlastPings(t *testing.T) {
	b, err := os.ReadFile(nginxConf)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"proxy_read_timeout", "proxy_send_timeout"} {
		m := regexp.MustCompile(name + `\s+(\d+)s;`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no %s in seconds", nginxConf, name)
		}
		secs, _ := strconv.Atoi(string(m[1]))
		if d := time.Duration(secs) * time.Second; d <= server.DefaultIdleTimeout || d <= server.DefaultPingInterval {
			t.Errorf("%s %v is not above --idle-timeout %v and --ping-interval %v", name, d, server.DefaultIdleTimeout, server.DefaultPingInterval)
		}
	}
}

func TestExampleConfigChecks(t *testing.T) {
	out, err := command(t, "serve", "--config", "docs/deploy/wspush.yaml", "--check-config").CombinedOutput()
	if err != nil {
		t.Fatalf("docs/deploy/wspush.yaml: %v\n%s", err, out)
	}
}

// findNginx finds Debian's nginx or fails saying how to install it.
func findNginx(t *testing.T) string {
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("nginx is not installed: run the README's test command (make test), whose deps target installs Debian's nginx, or apt-get install nginx")
	return ""
}

// siteConf writes docs/deploy/nginx.conf for the test: its own port on
// loopback, the test's certificate, the test's wspush. Each replaced line
// must be there, so that the documented file and the tested one agree.
func siteConf(t *testing.T, dir, listen, upstream string) string {
	b, err := os.ReadFile(nginxConf)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, r := range [][2]string{
		{"listen 443 ssl;", "listen " + listen + " ssl;"},
		{"listen [::]:443 ssl;", ""},
		{"server 127.0.0.1:8080;", "server " + upstream + ";"},
		{"/etc/ssl/wspush/fullchain.pem", filepath.Join(dir, "cert.pem")},
		{"/etc/ssl/wspush/privkey.pem", filepath.Join(dir, "key.pem")},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("%s has no %q any more: update this test with it", nginxConf, r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	path := filepath.Join(dir, "wspush.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startNginx runs nginx in the foreground, as one process writing only
// under dir, with site included in its http block, until the test ends.
func startNginx(t *testing.T, nginx, dir, site string) {
	main := fmt.Sprintf(`daemon off;
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
    include %[2]s;
}
`, dir, site)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf}
	if out, err := exec.Command(nginx, append([]string{"-t"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(nginx, args...)
	cmd.Stderr = os.Stderr
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
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("nginx error.log:\n%s", b)
			}
		}
	})
}

// writeTestCerts writes a CA-signed certificate for localhost and
// 127.0.0.1 (cert.pem, key.pem) into dir and returns the CA to trust.
func writeTestCerts(t *testing.T, dir string) *x509.CertPool {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wspush test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(crand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(crand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// The chain, leaf first, as a fullchain.pem from a real CA.
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool
}

// readJSON reads server messages until a text one and decodes it.
func readJSON(t *testing.T, nc net.Conn) map[string]any {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		p, op, err := wsutil.ReadServerData(nc)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if op != ws.OpText {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(p, &m); err != nil {
			t.Fatalf("bad JSON %q: %v", p, err)
		}
		return m
	}
}

// waitUntil polls f until it returns nil or d passes.
func waitUntil(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
