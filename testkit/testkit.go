// Package testkit starts the real servers Roboshop's tests talk to (a
// MongoDB-compatible server, and later Redis, MariaDB and nginx) as child
// processes on free loopback ports with throwaway data directories.
package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Process is a server started as a child process; Stop and Start let a test take
// it away and bring it back on the same port and data directory.
type Process struct {
	name string
	args []string
	env  []string // nil: inherit
	addr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	output *bytes.Buffer
	done   chan struct{}
}

// Addr is the server's host:port.
func (p *Process) Addr() string { return p.addr }

// Start launches the process and waits until its port accepts connections.
func (p *Process) Start(t testing.TB) {
	t.Helper()
	if err := p.start(30 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func (p *Process) start(wait time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	cmd := exec.Command(p.name, p.args...)
	cmd.Env = p.env
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &syncWriter{w: out}, &syncWriter{w: out}
	// The kernel kills the server if the test binary dies first, so no server outlives its test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.output, p.done = cmd, out, done

	_, portText, _ := net.SplitHostPort(p.addr)
	port, _ := strconv.Atoi(portText)
	deadline := time.Now().Add(wait)
	var answeredAt time.Time
	for {
		conn, err := net.DialTimeout("tcp", p.addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			if ownsListener(cmd.Process.Pid, port) {
				return nil
			}
			// Someone answers, but not our server: it lost the port to
			// another process (a listener is ours the moment it listens).
			if answeredAt.IsZero() {
				answeredAt = time.Now()
			}
			if time.Since(answeredAt) > 5*time.Second || exited(done) {
				p.stopLocked(syscall.SIGTERM)
				return fmt.Errorf("%s on %s: %w", p.name, p.addr, errPortTaken)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		select {
		case <-done:
			p.cmd = nil
			if strings.Contains(out.String(), "in use") { // it lost the port before binding
				return fmt.Errorf("%s exited: %w:\n%s", p.name, errPortTaken, out.String())
			}
			return fmt.Errorf("%s exited before listening on %s:\n%s", p.name, p.addr, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stopLocked(syscall.SIGTERM)
			return fmt.Errorf("%s did not listen on %s within %s:\n%s", p.name, p.addr, wait, out.String())
		}
	}
}

// exited reports whether the process has exited (it could not bind, say).
func exited(done chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// Stop ends the process (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (p *Process) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked(syscall.SIGTERM)
}

// stopLocked sends sig, then SIGKILL if the process has not exited within
// 10 s, and waits for it.
func (p *Process) stopLocked(sig syscall.Signal) {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// Signal sends sig to the running process: SIGSTOP and SIGCONT pause and resume
// it (a datastore that hangs rather than refuses).
func (p *Process) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		t.Fatalf("signal %v: %s is not running", sig, p.name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, p.name, err)
	}
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked(syscall.SIGKILL)
}

// Output returns what the process printed so far, for failure messages.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.output == nil {
		return ""
	}
	return p.output.String()
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

type syncBuffer = syncWriter

// Shared servers live for a whole test binary; Main stops them after the tests.
type shared struct {
	mu    sync.Mutex
	procs map[string]*sharedEntry
	temps []string
}

type sharedEntry struct {
	once sync.Once
	p    *Process
	err  error
}

var registry = &shared{procs: map[string]*sharedEntry{}}

// addTemp records a file or directory for Main to delete.
func (s *shared) addTemp(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.temps = append(s.temps, path)
}

// Main runs the tests of a package and then stops the servers they shared. Use it
// as the whole of TestMain: func TestMain(m *testing.M) { testkit.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	registry.mu.Lock()
	for _, e := range registry.procs {
		if e.p != nil {
			e.p.Stop()
		}
	}
	for _, d := range registry.temps {
		_ = os.RemoveAll(d)
	}
	registry.mu.Unlock()
	os.Exit(code)
}

// sharedProcess starts (once per test binary) the server made by build and
// returns it. Different kinds start concurrently; the registry lock is never
// held while a server starts.
func sharedProcess(t testing.TB, kind string, build func(dir string, port int) (*Process, error)) *Process {
	t.Helper()
	registry.mu.Lock()
	e, ok := registry.procs[kind]
	if !ok {
		e = &sharedEntry{}
		registry.procs[kind] = e
	}
	registry.mu.Unlock()
	e.once.Do(func() {
		dir, err := os.MkdirTemp("", "roboshop-"+kind+"-")
		if err != nil {
			e.err = err
			return
		}
		registry.addTemp(dir)
		e.p, e.err = startOnFreePort(t, func(attempt int) (string, error) {
			sub := filepath.Join(dir, strconv.Itoa(attempt))
			return sub, os.MkdirAll(sub, 0o755)
		}, build)
	})
	if e.err != nil {
		t.Fatalf("shared %s: %v", kind, e.err)
	}
	return e.p
}

// ownProcess starts a server for one test only, stopped when the test ends.
func ownProcess(t testing.TB, build func(dir string, port int) (*Process, error)) *Process {
	t.Helper()
	p, err := startOnFreePort(t, func(int) (string, error) { return t.TempDir(), nil }, build)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// startOnFreePort builds and starts a server on a free port, in a fresh
// directory each attempt, and tries another port when the one it was given
// turns out to be another process's (three attempts).
func startOnFreePort(t testing.TB, newDir func(attempt int) (string, error),
	build func(dir string, port int) (*Process, error)) (*Process, error) {
	for attempt := 1; ; attempt++ {
		dir, err := newDir(attempt)
		if err != nil {
			return nil, err
		}
		p, err := build(dir, FreePort(t))
		if err != nil {
			return nil, err
		}
		err = p.start(60 * time.Second)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == 3 {
			return p, err
		}
	}
}

var nameSeq struct {
	sync.Mutex
	n int
}

// UniqueName returns a name no other test in this binary gets, usable as a
// database name (letters, digits and underscores, at most 60 characters).
func UniqueName(prefix string) string {
	nameSeq.Lock()
	defer nameSeq.Unlock()
	nameSeq.n++
	return prefix + "_" + strconv.Itoa(os.Getpid()) + "_" + strconv.Itoa(nameSeq.n)
}

// Context returns a context bounded by the test's deadline (or a minute).
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// StartProcess starts name with args for this test alone and waits until addr
// accepts connections; it is stopped when the test ends.
func StartProcess(t testing.TB, addr, name string, args ...string) *Process {
	t.Helper()
	return ownProcess(t, func(string, int) (*Process, error) {
		return &Process{name: name, args: args, addr: addr}, nil
	})
}

// InParallel runs f(0) … f(n-1), each in its own goroutine, all at once, and
// waits for them: the shape of every concurrency test here.
func InParallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
}
