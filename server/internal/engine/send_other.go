//go:build !linux

package engine

// sendNow writes nothing on this platform: gnet's Write does it all.
func sendNow(fd int, b []byte) int { return 0 }

// iovec stands in for the kernel's struct iovec, unused here.
type iovec struct{}

// sendvNow writes nothing on this platform: gnet's Writev does it all.
func sendvNow(fd int, bs [][]byte, iov []iovec) (int, []iovec) { return 0, iov }

// unsentInKernel cannot tell on this platform.
func unsentInKernel(fd int) int { return 0 }
