package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/roboshop-go/roboshop/topology"
)

// started is how a part of the lab was started (startIn), so that start can
// run it again after stop.
type started struct {
	NS   string   `json:"ns"`
	Env  []string `json:"env"`
	Path string   `json:"path"`
	Args []string `json:"args"`
}

// services are the parts stop and start take: the shop's services, whose
// instance, address and firewall stay while the process is gone, as when an
// instance's service fails on EC2.
func services() []string {
	var names []string
	for _, s := range topology.Roboshop().Services {
		names = append(names, s.Name)
	}
	return names
}

// pidOf is the running pid of part, or 0.
func pidOf(cfg config, part string) int {
	raw, err := os.ReadFile(filepath.Join(cfg.StateDir, "pids", part+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	if pid <= 1 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// stopService ends a service's process (SIGTERM, then its graceful shutdown).
func stopService(cfg config, service string, out io.Writer) error {
	if !slices.Contains(services(), service) {
		return fmt.Errorf("no service %q: one of %v", service, services())
	}
	pid := pidOf(cfg, service)
	if pid == 0 {
		return fmt.Errorf("%s is not running", service)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return err
	}
	for deadline := time.Now().Add(15 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	fmt.Fprintf(out, "%s stopped: its process ended; its instance, addresses and firewall stay\n", service)
	return nil
}

// startService runs a stopped service again, as it was started, and waits
// until it answers its health check.
func startService(ctx context.Context, cfg config, service string, out io.Writer) error {
	if !slices.Contains(services(), service) {
		return fmt.Errorf("no service %q: one of %v", service, services())
	}
	if pidOf(cfg, service) != 0 {
		return fmt.Errorf("%s is running already", service)
	}
	l, err := loadLayout(cfg)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(cfg.StateDir, "pids", service+".cmd"))
	if err != nil {
		return fmt.Errorf("no lab with %s is up: %w", service, err)
	}
	var s started
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	if err := l.startIn(s.NS, service, s.Env, s.Path, s.Args...); err != nil {
		return err
	}
	// Asked from its own instance, as the balancer's health check would.
	client := l.httpClientIn(service, 2*time.Second, time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ready(ctx, client, "http://"+l.hostPort(service, topology.ServicePort)+"/readyz") {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer its health check within 30s (logs/%s.log)", service, service)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprintf(out, "%s started and healthy\n", service)
	return nil
}

// ready: url answers 200.
func ready(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
