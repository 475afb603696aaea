// Command bare is the calibration baseline for `wspush bench broadcast`: a
// WebSocket server that does nothing but one write(2) per receiver.
//
// It accepts connections with one epoll loop, answers the upgrade, and
// serves POST /v1/broadcast {"data":ANY} on an HTTP port by encoding the
// push envelope once and writing it to every connection's socket in turn,
// from the HTTP handler's goroutine. No event loop, no queue, no pool, no
// close handshake: a lower bound on what a server can do with the kernel's
// loopback writes, to compare wspush with under the same load client.
//
//	go run ./bench/bare --addr 127.0.0.1:9080 --api-addr 127.0.0.1:9081
//	wspush bench broadcast --url ws://127.0.0.1:9080/ws --api http://127.0.0.1:9081 ...
package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"flag"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/wspush/wspush/frame"
)

type server struct {
	mu    sync.Mutex
	fds   []int          // upgraded connections
	up    map[int]bool   // the same, as a set
	heads map[int][]byte // partial request heads
	msgID atomic.Int64
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9080", "WebSocket listener")
	apiAddr := flag.String("api-addr", "127.0.0.1:9081", "HTTP API listener")
	flag.Parse()

	s := &server{heads: map[int][]byte{}, up: map[int]bool{}}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	go s.serveWS(ln.(*net.TCPListener))
	http.HandleFunc("POST /v1/broadcast", s.broadcast)
	log.Printf("bare: ws://%s/ws, API http://%s", *addr, *apiAddr)
	log.Fatal(http.ListenAndServe(*apiAddr, nil))
}

// serveWS accepts and upgrades connections on one epoll loop.
func (s *server) serveWS(ln *net.TCPListener) {
	f, err := ln.File()
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close() // keeps f, whose finalizer would close the fd, alive
	lfd := int(f.Fd())
	if err := unix.SetNonblock(lfd, true); err != nil {
		log.Fatal(err)
	}
	ep, err := unix.EpollCreate1(0)
	if err != nil {
		log.Fatal(err)
	}
	_ = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)})
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 8192)
	for {
		n, err := unix.EpollWait(ep, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			log.Fatal(err)
		}
		for _, e := range events[:n] {
			fd := int(e.Fd)
			if fd == lfd {
				for {
					cfd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
					if err != nil {
						break
					}
					_ = unix.SetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
					_ = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, cfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(cfd)})
				}
				continue
			}
			s.read(ep, fd, buf)
		}
	}
}

// read handles bytes from fd: the upgrade while it is pending, and after
// it anything (pongs, close frames) is read and dropped.
func (s *server) read(ep, fd int, buf []byte) {
	n, err := unix.Read(fd, buf)
	if n <= 0 || err != nil {
		if err == unix.EAGAIN {
			return
		}
		s.drop(ep, fd)
		return
	}
	s.mu.Lock()
	head, pending := s.heads[fd]
	if !pending && s.up[fd] {
		s.mu.Unlock()
		return
	}
	head = append(head, buf[:n]...)
	end := bytes.Index(head, []byte("\r\n\r\n"))
	if end < 0 {
		s.heads[fd] = head
		s.mu.Unlock()
		return
	}
	delete(s.heads, fd)
	s.fds = append(s.fds, fd)
	s.up[fd] = true
	s.mu.Unlock()
	key := headerValue(head[:end], "Sec-WebSocket-Key")
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(h[:]) + "\r\n\r\n"
	_, _ = unix.Write(fd, []byte(resp))
}

func (s *server) drop(ep, fd int) {
	_ = unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, fd, nil)
	s.mu.Lock()
	delete(s.heads, fd)
	delete(s.up, fd)
	for i, f := range s.fds {
		if f == fd {
			s.fds[i] = s.fds[len(s.fds)-1]
			s.fds = s.fds[:len(s.fds)-1]
			break
		}
	}
	s.mu.Unlock()
	_ = unix.Close(fd)
}

// broadcast encodes the envelope once and writes it to every connection.
func (s *server) broadcast(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Data) == 0 {
		http.Error(w, `{"error":"bad_request"}`, http.StatusBadRequest)
		return
	}
	b := []byte(`{"type":"push","id":"m` + strconv.FormatInt(s.msgID.Add(1), 10) + `","data":`)
	b = append(b, req.Data...)
	b = append(b, `,"ts":`+strconv.FormatInt(time.Now().UnixMilli(), 10)+`}`...)
	f := frame.AppendFrame(nil, ws.OpText, b)

	s.mu.Lock()
	fds := append([]int(nil), s.fds...)
	s.mu.Unlock()
	delivered := 0
	for _, fd := range fds {
		if n, err := unix.Write(fd, f); err == nil && n == len(f) {
			delivered++
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"delivered":` + strconv.Itoa(delivered) + `}`))
}

func headerValue(head []byte, name string) string {
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}
