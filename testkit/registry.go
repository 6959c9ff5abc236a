package testkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/roboshop-go/roboshop/topology"
)

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
		if err == nil {
			return p, p.runSetup()
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
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

// runSetup runs the server's setup commands once it listens, retried for up to
// a minute: a server listens a moment before it answers.
func (p *Process) runSetup() error {
	for _, c := range p.setup {
		if err := topology.Retry(context.Background(), time.Minute, func() error { return runCmd(context.Background(), c) }); err != nil {
			return fmt.Errorf("set up %s: %w", p.name, err)
		}
	}
	p.setup = nil
	return nil
}
