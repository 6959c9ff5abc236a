package topology

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Local runs every part as a child process of this one, logging to
// LogDir/<part>.log; the kernel ends them if this process dies first.
type Local struct {
	LogDir string

	mu    sync.Mutex
	procs []*localProc
}

type localProc struct {
	part string
	cmd  *exec.Cmd
	done chan struct{}
}

// Run runs c to completion, its output in part's log.
func (l *Local) Run(ctx context.Context, _ string, c Cmd) error { return c.Run(ctx) }

// Start starts c as part's process.
func (l *Local) Start(part string, c Cmd) error {
	if err := os.MkdirAll(l.LogDir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(l.LogDir, part+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", part, err)
	}
	p := &localProc{part: part, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return nil
}

// PID is the process id of part's process (0 if none).
func (l *Local) PID(part string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.procs {
		if p.part == part {
			return p.cmd.Process.Pid
		}
	}
	return 0
}

// Exited returns a channel that receives the name of the first part whose
// process ends.
func (l *Local) Exited() <-chan string {
	l.mu.Lock()
	procs := append([]*localProc(nil), l.procs...)
	l.mu.Unlock()
	first := make(chan string, len(procs))
	for _, p := range procs {
		go func() { <-p.done; first <- p.part }()
	}
	return first
}

// Stop ends every process, newest first (SIGTERM; SIGKILL after 10 s).
func (l *Local) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.procs) - 1; i >= 0; i-- {
		Terminate(l.procs[i].cmd.Process, syscall.SIGTERM, l.procs[i].done, 10*time.Second)
	}
	l.procs = nil
}
