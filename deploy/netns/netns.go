// Package netns opens sockets inside a Linux network namespace: the lab's
// instances (deploy/lab) and the test node's pods (deploy/kube).
package netns

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs open on a thread that joined the network namespace at path (a
// file under /run/netns, or a pod's), so the socket it makes lives there;
// that thread is never reused (it is not unlocked, so it exits with its
// goroutine).
func Do[T any](path string, open func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var zero T
		f, err := os.Open(path)
		if err != nil {
			ch <- result{zero, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{zero, fmt.Errorf("setns %s: %w", path, err)}
			return
		}
		v, err := open()
		ch <- result{v, err}
	}()
	r := <-ch
	return r.v, r.err
}
