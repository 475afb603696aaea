package server

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
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// The production path, for real: Debian's nginx terminates TLS with
// docs/deploy/nginx.conf in front of a wspush server, a client connects
// with wss:// trusting the test's CA, and receives a push that the backend
// sends through the API.

const nginxConf = "../docs/deploy/nginx.conf"

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

	srv := startPlain(t, Config{ConnConfig: ConnConfig{Loops: 1}, APIAddr: "127.0.0.1:0",
		Webhook: WebhookConfig{URL: hook.URL, Events: []string{EventConnect}, Delay: 10 * time.Millisecond},
	})

	port := startNginx(t, nginx, dir, func(listen string) string {
		return "    include " + siteConf(t, dir, listen, srv.Addr().String()) + ";"
	})

	// A mini-program's view: wss://, the server's certificate checked.
	d := ws.Dialer{TLSConfig: &tls.Config{RootCAs: ca, ServerName: "localhost"}, Timeout: 5 * time.Second}
	var nc net.Conn
	waitFor(t, 10*time.Second, func() error {
		var err error
		nc, _, _, err = d.Dial(context.Background(), "wss://"+port+"/ws?user=alice&token=QUERY-SECRET")
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
	waitFor(t, 5*time.Second, func() error {
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

	// The access log, written when the connection ends, has the path
	// but not the query and its token.
	nc.Close()
	var logged []byte
	waitFor(t, 5*time.Second, func() error {
		logged, _ = os.ReadFile(filepath.Join(dir, "wspush.access.log"))
		if !strings.Contains(string(logged), "GET /ws HTTP/1.1") {
			return fmt.Errorf("access log %q: no line for the connection", logged)
		}
		return nil
	})
	if strings.Contains(string(logged), "QUERY-SECRET") {
		t.Fatalf("the access log holds the query's token: %s", logged)
	}
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
		if d := time.Duration(secs) * time.Second; d <= DefaultIdleTimeout || d <= DefaultPingInterval {
			t.Errorf("%s %v is not above --idle-timeout %v and --ping-interval %v", name, d, DefaultIdleTimeout, DefaultPingInterval)
		}
	}
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
		{"/var/log/nginx/wspush.access.log", filepath.Join(dir, "wspush.access.log")},
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
