package engine

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendNow writes as much of b to socket fd as the socket takes at once,
// without blocking, and reports how much that was; 0 on any error, which
// the caller leaves to gnet's Write to meet again and handle (EAGAIN:
// buffer the rest; anything else: close the connection).
//
// It is a raw system call: the event loop's goroutine keeps its P through
// it instead of entering the scheduler's syscall state. A non-blocking
// send to a socket returns in microseconds, and a broadcast makes tens of
// thousands of them back to back; through syscall.Syscall each one is an
// entersyscall/exitsyscall pair, and with every P in a syscall the
// runtime's sysmon keeps waking to retake Ps and hand them to other
// threads, which on the broadcast benchmark cost as much CPU as a fifth of
// the sends themselves (docs/benchmarks.md). send(2) with MSG_NOSIGNAL
// also skips write(2)'s file layer and a SIGPIPE on a reset peer.
func sendNow(fd int, b []byte) int {
	if len(b) == 0 {
		return 0
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0
	}
	return int(n)
}

// iovec is the kernel's struct iovec.
type iovec = unix.Iovec

// sendvNow is sendNow for several buffers, written with one sendmsg(2).
// iov is scratch space for the iovecs, returned for reuse.
func sendvNow(fd int, bs [][]byte, iov []iovec) (int, []iovec) {
	iov = iov[:0]
	for _, b := range bs {
		if len(b) > 0 {
			v := iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
		}
	}
	if len(iov) == 0 {
		return 0, iov
	}
	msg := unix.Msghdr{Iov: &iov[0]}
	msg.SetIovlen(len(iov))
	n, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)),
		unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	clear(iov) // drop the references to the frames
	if errno != 0 {
		return 0, iov
	}
	return int(n), iov
}

// unsentInKernel is how many bytes socket fd's send queue holds that the
// peer has not acknowledged (SIOCOUTQ), or 0 if it cannot tell.
func unsentInKernel(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return 0
	}
	return n
}
