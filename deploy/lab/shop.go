package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/roboshop-go/roboshop/deploy/sg"
	"github.com/roboshop-go/roboshop/topology"
)

// Lab credentials: the datastores require them as in compose and on EC2; in a
// throwaway lab on one machine they need not be secret.
var labSecrets = topology.Secrets{MongoPassword: "lab-mongo-password", RedisPassword: "lab-redis-password",
	MySQLUser: "roboshop", MySQLPassword: "lab-mysql-password", MySQLMigrator: "roboshop_migrate", MySQLMigratorPassword: "lab-mysql-migrate-password", SettleToken: "lab-settle-token-0123456789abcdefgh"}

// up builds the binaries, creates the network and firewalls, starts every tier
// and the host forwarder, and waits until the shop answers through it.
func up(ctx context.Context, cfg config, out io.Writer) error {
	return upWith(ctx, cfg, out, true)
}

// upWith with detachForwarder false leaves the host forwarder to the caller
// (serveForward) and serves the internal balancers from this process until
// ctx ends.
func upWith(ctx context.Context, cfg config, out io.Writer, detachForwarder bool) error {
	l, err := loadLayout(cfg)
	if err != nil {
		return err
	}
	if len(l.namespaces()) > 0 {
		return fmt.Errorf("a lab with prefix %q is up already: `sudo scripts/lab.sh status` shows it, `sudo scripts/lab.sh down` removes it", cfg.Prefix)
	}
	// data: each datastore's directory is made in it; servers that run as
	// users of their own (MariaDB) must be able to pass through.
	for _, d := range []string{"logs", "pids", "nft", "data"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, d), 0o755); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "building binaries...")
	names := append([]string{"mongostandin"}, services()...)
	bins, err := topology.Build(ctx, cfg.Repo, filepath.Join(cfg.StateDir, "bin"), os.Getenv("ROBOSHOP_BIN_DIR"), names...)
	if err != nil {
		return err
	}
	// The MongoDBs sign their services in (SCRAM), as on EC2 and in compose:
	// FerretDB's server, which scripts/lab.sh builds (scripts/deps.sh).
	if bins["ferretdb"] = os.Getenv("ROBOSHOP_FERRETDB"); bins["ferretdb"] == "" {
		return errors.New("ROBOSHOP_FERRETDB is not set: run the lab through scripts/lab.sh, which builds FerretDB's server")
	}
	fmt.Fprintln(out, "creating one network namespace per security group...")
	if err := l.createNetwork(); err != nil {
		return err
	}
	if err := l.applyFirewall(cfg.StateDir); err != nil {
		return err
	}
	fmt.Fprintln(out, "starting an SSH server on every instance that accepts SSH...")
	if err := l.startSSH(); err != nil {
		return err
	}
	fmt.Fprintln(out, "starting datastores, services and nginx inside them...")
	shop := topology.Roboshop()
	state, _ := filepath.Abs(cfg.StateDir)
	plan := topology.Plan{Repo: cfg.Repo, Dir: state, Bins: bins, Secrets: labSecrets, Frontend: true, RealIPFrom: l.realIPFrom(),
		MariaDBUser: mariaDBUser(),
		Addr: func(part string) (string, int) {
			port := topology.ServicePort
			switch {
			case part == topology.FrontendPart:
				port = 80
			case slices.ContainsFunc(shop.Datastores, func(d topology.Datastore) bool { return d.Name == part }):
				port = shop.Datastore(part).Port
			}
			return l.addr(part).String(), port
		},
		// As on EC2, callers find a service at its listener on the internal
		// balancer, whose relay (startBalancers) runs beside the forwarder.
		Reach: func(service string) string {
			if lb, port, ok := l.set.ListenerOf(service); ok {
				return l.hostPort(lb, port)
			}
			return l.hostPort(service, topology.ServicePort)
		},
		// The relay connects from the balancer's address: the only one the
		// user service believes X-Real-IP from (nginx's, without a balancer).
		ProxyOf: func(service string) string {
			if lb, _, ok := l.set.ListenerOf(service); ok {
				return l.addr(lb).String()
			}
			return l.addr(topology.FrontendPart).String()
		}}
	if err := topology.Start(ctx, plan, l); err != nil {
		return fmt.Errorf("%w (logs in %s/logs)", err, cfg.StateDir)
	}
	if detachForwarder {
		if err := startForwarder(cfg); err != nil {
			return err
		}
	} else if _, err := l.startBalancers(ctx); err != nil { // in this process, until ctx ends
		return err
	}
	if err := topology.WaitHTTP(ctx, "http://"+cfg.Listen+"/api/catalogue/products?limit=1", 90*time.Second); err != nil {
		return fmt.Errorf("the shop did not answer through the frontend: %w (logs in %s/logs)", err, cfg.StateDir)
	}
	if err := os.WriteFile(filepath.Join(cfg.StateDir, "listen"), []byte(cfg.Listen), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nRoboshop lab is up: http://%s/\n", cfg.Listen)
	l.printInstances(out)
	return nil
}

// status prints what up printed, for a lab that is up.
func status(cfg config, out io.Writer) error {
	l, err := loadLayout(cfg)
	if err != nil {
		return err
	}
	listen, err := os.ReadFile(filepath.Join(cfg.StateDir, "listen"))
	if len(l.namespaces()) == 0 || err != nil {
		return fmt.Errorf("no lab with prefix %q is up: `sudo scripts/lab.sh up` starts one", cfg.Prefix)
	}
	fmt.Fprintf(out, "Roboshop lab is up: http://%s/\n", listen)
	l.printInstances(out)
	return nil
}

// printInstances is the table of the lab's instances: each one's addresses,
// namespace and the ports its security group accepts connections on; then
// where the host stands and how it signs in to an instance.
func (l *layout) printInstances(out io.Writer) {
	fmt.Fprintf(out, "  %-18s %-12s %-15s %-20s %s\n", "instance", "private", "public", "netns", "accepts")
	for _, inst := range l.instances() {
		accepts := "(nothing: a client only)"
		if g := l.set.Groups[inst]; g != nil {
			var ps []string
			for _, r := range g.Ingress {
				p := strconv.Itoa(r.Port)
				switch {
				case r.Protocol == sg.ICMP:
					p = "ping"
				case r.ToPort != r.Port:
					p += "-" + strconv.Itoa(r.ToPort)
				}
				if r.Protocol == sg.UDP {
					p += "/udp"
				}
				if !slices.Contains(ps, p) {
					ps = append(ps, p)
				}
			}
			accepts = strings.Join(ps, ", ")
		}
		private, public := l.addr(inst).String(), "-"
		if p, ok := l.publicAddr(inst); ok {
			public = p.String()
		}
		if inst == internet {
			private, public = "-", l.addr(inst).String()
		}
		fmt.Fprintf(out, "  %-18s %-12s %-15s %-20s %s\n", inst, private, public, l.ns(inst), accepts)
	}
	fmt.Fprintf(out, "This machine is %s on the public segment, the lab's admin_cidr %s; private addresses are reachable only from inside.\n", l.hostAddr(), l.adminCIDR())
	if pub, ok := l.publicAddr(sg.LoadBalancer); ok {
		fmt.Fprintf(out, "The shop on the alb's public address: http://%s/\n", pub)
	}
	fmt.Fprintf(out, "SSH to the bastion: %s; to payment through it: %s\n", l.sshCommand(l.bastion()), l.sshCommand("payment"))
	fmt.Fprintf(out, "A shell on an instance: sudo scripts/lab.sh shell payment; what telnet finds: sudo scripts/lab.sh try frontend payment 8080\n")
	fmt.Fprintf(out, "Check the firewalls: sudo scripts/lab.sh check; status: sudo scripts/lab.sh status; tear down: sudo scripts/lab.sh down. Logs: %s/logs\n", l.cfg.StateDir)
}

// mariaDBUser is the OS user the lab's MariaDB runs as: Debian's mysql, as
// the package's own service does, rather than root.
func mariaDBUser() string {
	if os.Geteuid() != 0 {
		return ""
	}
	if _, err := user.Lookup("mysql"); err != nil {
		return ""
	}
	return "mysql"
}

// Run runs a one-off command of the shop's start (installing and setting up a
// datastore) on the host: it works on files and sockets, not the network.
func (l *layout) Run(ctx context.Context, _ string, c topology.Cmd) error { return c.Run(ctx) }

// Start starts part's process inside its namespace, detached, logging to
// logs/<part>.log, and records its pid for down.
func (l *layout) Start(part string, c topology.Cmd) error {
	return l.startIn(l.ns(part), part, c.Env, c.Path, c.Args...)
}

// startIn starts path inside namespace ns with env beyond the lab's own,
// detached, logging to logs/<part>.log, and records its pid for down.
func (l *layout) startIn(ns, part string, env []string, path string, args ...string) error {
	// What start needs to run it again after stop.
	again, err := json.Marshal(started{NS: ns, Env: env, Path: path, Args: args})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(l.cfg.StateDir, "pids", part+".cmd"), again, 0o600); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(l.cfg.StateDir, "logs", part+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, path}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", part, err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return os.WriteFile(filepath.Join(l.cfg.StateDir, "pids", part+".pid"), []byte(strconv.Itoa(pid)), 0o644)
}

// down stops every process of the lab and removes its namespaces and files. It
// works from the pid files and, after a crash, from the namespaces themselves.
func down(cfg config, out io.Writer) error {
	l := &layout{cfg: cfg}
	// Only processes inside the lab's namespaces, plus the forwarder if its
	// command line proves it is ours: a stale pid file never kills a stranger.
	pids := map[int]bool{}
	if pid := pidOf(cfg, "forward"); pid != 0 {
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if strings.Contains(string(cmdline), "forward") && strings.Contains(string(cmdline), cfg.StateDir) {
			pids[pid] = true
		}
	}
	nss := l.namespaces()
	for _, ns := range nss {
		raw, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				pids[pid] = true
			}
		}
	}
	// A Go program that dialled from a namespace can have its main thread left
	// there (see dialFrom), so the namespace lists it: never signal ourselves.
	delete(pids, os.Getpid())
	for pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pid := range pids {
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	var errs []error
	// The host's end of the public segment: deleting its namespace would take
	// it too, but the kernel does that later, in the background; removed here,
	// it is gone when down returns.
	if exec.Command("ip", "link", "show", l.ns("pub")).Run() == nil {
		if err := run("ip", "link", "del", l.ns("pub")); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range nss {
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(cfg.StateDir); err != nil {
		errs = append(errs, err)
	}
	fmt.Fprintf(out, "scripts/lab.sh down: stopped %d processes, removed %d namespaces and %s\n", len(pids), len(nss), cfg.StateDir)
	return errors.Join(errs...)
}
