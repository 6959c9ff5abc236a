package testkit

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/topology"
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
	name  string
	args  []string
	env   []string // nil: inherit
	addr  string
	dir   string         // its data directory, where it has one
	setup []topology.Cmd // run once after its first start (creating a database and user)

	mu     sync.Mutex
	cmd    *exec.Cmd
	output *Buffer
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
	// One writer for both streams, so exec copies them in one goroutine.
	out := &Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
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
	topology.Terminate(p.cmd.Process, sig, p.done, 10*time.Second)
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

// Buffer is a bytes.Buffer that goroutines can share: a process's output, a
// service's logs.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(b)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// SetEnv sets KEY=value pairs in the environment of the process's next Start
// (a restart with another setting, on the same port and data).
func (p *Process) SetEnv(pairs ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pair := range pairs {
		key, _, _ := strings.Cut(pair, "=")
		p.env = slices.DeleteFunc(p.env, func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
		p.env = append(p.env, pair)
	}
}

// WaitExit waits up to within for the process to exit on its own, and reports
// whether it did (then Start runs it again).
func (p *Process) WaitExit(within time.Duration) bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		p.mu.Lock()
		p.cmd = nil
		p.mu.Unlock()
		return true
	case <-time.After(within):
		return false
	}
}

// TryStart is Start for a process that may end on its own before Start could
// see it listen (one made to crash at its first request): the error instead
// of failing the test.
func (p *Process) TryStart() error { return p.start(30 * time.Second) }
