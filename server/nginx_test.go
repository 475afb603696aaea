package server

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The nginx harness of the deployment and cluster tests: Debian's nginx,
// started by the test on a socket it listens on and on files of its own.

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

// startNginx runs nginx in the foreground, a master and one worker
// writing only under dir, with site(listen) inside its http block, until
// the test ends, and returns listen, the loopback address nginx serves on.
//
// nginx cannot listen on port 0 and say which port it got, and a port
// picked free and then handed to nginx may be taken by another process
// before nginx binds it. So the test listens on 127.0.0.1:0 itself and
// nginx inherits that socket, as a new binary does in nginx's binary
// upgrade: the NGINX environment variable lists inherited descriptors
// ("3;"), and nginx uses an inherited socket for the listen directive with
// the same address instead of binding one (ngx_add_inherited_sockets in
// src/core/nginx.c, ngx_init_cycle in src/core/ngx_cycle.c). No other
// process can take the port between its choice and nginx's first accept,
// and if nginx ignored the socket its own bind would fail on it, loudly.
// Without a master process, nginx before 1.23.3 (Debian's is 1.22)
// crashes on an inherited socket (nginx commit d52e56844), hence the
// master. nginx -t tolerates a port in use: the check needs no socket.
func startNginx(t *testing.T, nginx, dir string, site func(listen string) string) (listen string) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	listen = ln.Addr().String()
	sock, err := ln.File()
	ln.Close() // the duplicate in sock keeps the socket listening
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close() // nginx has its own copy once started
	main := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
%[3]spid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, site(listen), workerUser(t))
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf}
	if out, err := exec.Command(nginx, append([]string{"-t"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(nginx, args...)
	cmd.Env = append(os.Environ(), "NGINX=3;")
	cmd.ExtraFiles = []*os.File{sock}                     // descriptor 3 in nginx
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the worker goes with the master
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Handing a descriptor to a child puts the socket in blocking mode
	// (os.File.Fd), and nginx leaves an inherited socket as it finds it:
	// give it back the non-blocking mode of nginx's own listeners.
	if rc, err := sock.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _ = syscall.SetNonblock(int(fd), true) })
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its group: master and worker
			<-done
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("nginx error.log:\n%s", b)
			}
		}
	})
	return listen
}

// workerUser is nginx's user directive for a master run by root, which
// would otherwise run its worker as nobody, locked out of the test's
// files. Run by anyone else, nginx keeps its own user and needs none.
func workerUser(t *testing.T) string {
	if os.Geteuid() != 0 {
		return ""
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	return "user " + u.Username + " " + g.Name + ";\n"
}
