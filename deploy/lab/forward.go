package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

// forward accepts connections on the host's loopback and relays each to the
// frontend's port 80 from the alb namespace, as the load balancer does on
// AWS: the host stands for the shopper on the internet, the relay for the
// ALB, and the frontend's rules admit it as they admit the ALB. (A lab whose
// groups have no alb relays from the internet namespace.)
func forward(ctx context.Context, cfg config) error {
	l, err := loadLayout(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	return l.serveForward(ctx, ln)
}

func (l *layout) serveForward(ctx context.Context, ln net.Listener) error {
	go func() { <-ctx.Done(); ln.Close() }()
	target := l.hostPort("frontend", 80)
	from := internet
	if slices.Contains(l.groups, sg.LoadBalancer) {
		from = sg.LoadBalancer
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		client, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer client.Close()
			upstream, err := l.dialFrom(ctx, from, target, 3*time.Second)
			if err != nil {
				return
			}
			defer upstream.Close()
			done := make(chan struct{}, 2)
			relay := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go relay(upstream, client)
			go relay(client, upstream)
			<-done
			<-done
		}()
	}
}

// startForwarder runs "lab forward" detached from a copy of this executable
// (a `go run` binary disappears when go run exits).
func startForwarder(cfg config) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	copyPath, _ := filepath.Abs(filepath.Join(cfg.StateDir, "bin", "lab"))
	if err := os.WriteFile(copyPath, raw, 0o755); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(cfg.StateDir, "logs", "forward.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	state, _ := filepath.Abs(cfg.StateDir)
	repo, _ := filepath.Abs(cfg.Repo)
	cmd := exec.Command(copyPath, "forward", "-prefix", cfg.Prefix, "-subnet", cfg.Subnet,
		"-listen", cfg.Listen, "-repo", repo, "-state", state)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start forwarder: %w", err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return os.WriteFile(filepath.Join(cfg.StateDir, "pids", "forward.pid"), []byte(strconv.Itoa(pid)), 0o644)
}
