// Command dev runs the whole shop from source on this machine's loopback
// until Ctrl-C: the four datastores, the four services and nginx with the web
// UI, each a plain process with throwaway data. The services are also
// reachable directly, for trying the API from a shell.
//
//	go run ./topology/cmd/dev        (or scripts/dev.sh)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/roboshop-go/roboshop/topology"
)

// Fixed loopback ports, so the README's examples work: the frontend on 8080,
// the services on 8081-8084 in topology order, the datastores above them.
var ports = map[string]int{
	topology.FrontendPart: 8080,
	"user":                8081, "catalogue": 8082, "cart": 8083, "payment": 8084,
	"user-mongodb": 27117, "catalogue-mongodb": 27118, "cart-redis": 6479, "payment-mysql": 3406,
}

func main() {
	repo := flag.String("repo", ".", "repository root")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *repo, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, repo string, out io.Writer) error {
	dir, err := os.MkdirTemp("", "roboshop-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// nginx's workers (an unprivileged user when started as root) read the UI here.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	fmt.Fprintln(out, "building...")
	names := []string{"mongostandin"}
	for _, svc := range topology.Roboshop().Services {
		names = append(names, svc.Name)
	}
	bins, err := topology.Build(ctx, repo, filepath.Join(repo, ".cache", "bin"), "", names...)
	if err != nil {
		return err
	}
	plan := topology.Plan{Repo: repo, Dir: dir, Bins: bins, Frontend: true, Throwaway: true,
		Addr:    func(part string) (string, int) { return "127.0.0.1", ports[part] },
		Secrets: topology.Secrets{MySQLUser: "roboshop", MySQLPassword: "roboshop-dev", MySQLMigrator: "roboshop_migrate", MySQLMigratorPassword: "roboshop-dev-migrate", SettleToken: "roboshop-dev-settle-token-0123456789"}}
	local := &topology.Local{LogDir: filepath.Join(dir, "logs")}
	defer local.Stop()
	fmt.Fprintln(out, "starting datastores, services and nginx...")
	if err := topology.Start(ctx, plan, local); err != nil {
		return fmt.Errorf("%w (logs in %s)", err, plan.Dir)
	}
	for _, svc := range topology.Roboshop().Services {
		if err := topology.WaitHTTP(ctx, "http://"+plan.HostPort(svc.Name)+"/readyz", time.Minute); err != nil {
			return err
		}
	}
	if err := topology.WaitHTTP(ctx, "http://"+plan.HostPort(topology.FrontendPart)+"/healthz", time.Minute); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nRoboshop is up: http://%s/  (demo account: demo@roboshop.example / roboshop-demo)\n", plan.HostPort(topology.FrontendPart))
	for _, svc := range topology.Roboshop().Services {
		fmt.Fprintf(out, "  %-10s http://%s\n", svc.Name, plan.HostPort(svc.Name))
	}
	fmt.Fprintf(out, "Try:  curl -s 'http://%s/api/catalogue/products?q=drone'\nLogs: %s/logs. Ctrl-C stops everything and deletes the data.\n",
		plan.HostPort(topology.FrontendPart), dir)
	select {
	case <-ctx.Done():
		return nil
	case part := <-local.Exited():
		return fmt.Errorf("%s exited; its log: %s/logs/%s.log", part, dir, part)
	}
}
