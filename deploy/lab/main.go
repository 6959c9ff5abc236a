// Command lab runs the whole shop on one Linux machine as separate "instances":
// one network namespace per security group, on a private bridge that lives in a
// namespace of its own, each with nftables rules generated from
// deploy/security-groups (stateful, default drop, like a security group). Only
// the frontend is reachable from the host, through a forwarder on a printed
// loopback URL. It needs root.
//
//	lab up      build, start every tier, print the URL and the instances (the forwarder keeps running)
//	lab status  print the URL and the instances again
//	lab picture -graph FILE   draw what the groups allow, without a lab (deploy/security-groups.svg)
//	lab check   try every (source, destination, port), compare with the YAML and
//	            draw who reaches whom as SVG (-graph; differences in red)
//	lab down    remove every namespace, process and file of the lab (idempotent)
//	lab metrics <service>   print a service's /metrics, asked from inside its namespace
//	lab try <from> <to> <port> [tcp|udp|icmp]   what telnet (a datagram, ping) from one
//	            instance to another finds, and the rules (file:line) that decide it;
//	            exit 1 when the network and the groups disagree ("lab try bastion payment icmp": ping)
//	lab allow <from> <to> <port> [tcp|udp|icmp]   add the two rules that let from reach to
//	            to the lab's copy of the groups and apply it, as a console change does
//	            (lab firewall applies the repository's groups again)
//	lab shell <instance> [-- command...]   a shell inside an instance, as if logged in to it
//	lab stop <service>, lab start <service>   end a service's process (its instance stays), and
//	            run it again, waiting until it is ready: what a tier's failure does to the shop
//	lab firewall [-groups DIR]   apply the security groups again, from DIR (a drill's
//	            mutated copy) or the repository's, once they pass the security policy
//	            (-break-policy applies them anyway); lab check compares with the repository's
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	cfg := defaultConfig()
	fs.StringVar(&cfg.Prefix, "prefix", cfg.Prefix, "name prefix of the lab's namespaces (≤ 6 characters)")
	fs.StringVar(&cfg.Subnet, "subnet", cfg.Subnet, "the lab's private /24, e.g. 10.77.0")
	fs.StringVar(&cfg.Public, "public", cfg.Public, "the lab's public /24, which the host joins at .1, e.g. 198.51.100")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "host address of the frontend forwarder")
	fs.StringVar(&cfg.Repo, "repo", cfg.Repo, "repository root")
	fs.StringVar(&cfg.StateDir, "state", cfg.StateDir, "state directory (pids, logs, data)")
	graph := fs.String("graph", "", "check: where to draw the reachability picture (SVG; default <state>/reachability.svg)")
	jsonPath := fs.String("json", "", "check: also write the result as JSON to this file, for programs (sg.CheckReport)")
	fs.StringVar(&cfg.Groups, "groups", "", "firewall: the security groups to apply (default: the repository's)")
	fs.BoolVar(&cfg.BreakPolicy, "break-policy", false, "firewall: apply the groups even where they fail the security policy (for the drills)")
	_ = fs.Parse(args)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "up":
		err = up(ctx, cfg, os.Stdout)
	case "down":
		err = down(cfg, os.Stdout)
	case "status":
		err = status(cfg, os.Stdout)
	case "picture": // what the definitions allow, drawn without a lab: deploy/security-groups.svg
		err = picture(cfg, *graph)
	case "check":
		var rep sg.CheckReport
		rep, err = check(ctx, cfg, *graph, os.Stdout)
		if err == nil && *jsonPath != "" {
			err = rep.WriteFile(*jsonPath)
		}
		switch {
		case err != nil:
		case len(rep.Differences) > 0:
			err = fmt.Errorf("%s between the security groups and what the network allows", plural(len(rep.Differences), "difference"))
		case len(rep.Policy) > 0:
			err = fmt.Errorf("the security groups break the security policy (%s)", plural(len(rep.Policy), "violation"))
		}
	case "metrics":
		err = metrics(ctx, cfg, fs.Arg(0), os.Stdout)
	case "try", "allow":
		from, to, protocol, port, perr := flowArgs(fs.Args())
		if perr != nil {
			fmt.Fprintln(os.Stderr, "lab:", perr)
			usage()
		}
		if cmd == "allow" {
			err = allow(cfg, from, to, protocol, port, os.Stdout)
			break
		}
		var r tried
		if r, err = try(ctx, cfg, from, to, protocol, port, os.Stdout); err == nil && r.Differs() {
			err = errors.New("the network and the security groups disagree")
		}
	case "stop":
		err = stopService(cfg, fs.Arg(0), os.Stdout)
	case "start":
		err = startService(ctx, cfg, fs.Arg(0), os.Stdout)
	case "shell":
		if fs.NArg() < 1 {
			usage()
		}
		err = shell(cfg, fs.Arg(0), fs.Args()[1:])
	case "firewall":
		err = firewall(cfg, os.Stdout)
	case "forward": // internal: started detached by up
		err = forward(ctx, cfg)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(1)
	}
}

// flowArgs reads "<from> <to> <port> [tcp|udp|icmp]" or "<from> <to> icmp"
// (ping: an echo request).
func flowArgs(args []string) (from, to, protocol string, port int, err error) {
	switch {
	case len(args) == 3 && args[2] == sg.ICMP:
		return args[0], args[1], sg.ICMP, sg.EchoRequest, nil
	case len(args) == 3 || len(args) == 4:
		protocol = sg.TCP
		if len(args) == 4 {
			protocol = args[3]
		}
		port, err = strconv.Atoi(args[2])
		if err != nil {
			return "", "", "", 0, fmt.Errorf("port %q is not a number", args[2])
		}
		return args[0], args[1], protocol, port, nil
	}
	return "", "", "", 0, errors.New("want <from> <to> <port> [tcp|udp|icmp], or <from> <to> icmp")
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: scripts/lab.sh up|status|check|down|firewall|picture|metrics <service>|try <from> <to> <port> [tcp|udp|icmp]|try <from> <to> icmp|allow <from> <to> <port> [tcp|udp|icmp]|shell <instance> [-- command...]|stop <service>|start <service> [-prefix rs] [-subnet 10.77.0] [-public 198.51.100] [-listen 127.0.0.1:8080] [-repo .] [-state /run/roboshop-lab] [-groups DIR]")
	os.Exit(2)
}
