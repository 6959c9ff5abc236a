package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

// tried is what try found: the network's answer and the groups' verdict.
type tried struct {
	From, To, Protocol string
	Port               int
	// Reached: a connection (or, for UDP, an answer or a port-unreachable)
	// came back; Answer says which, in a few words.
	Reached bool
	Answer  string
	Verdict sg.Verdict
	// Routed: the source has a way to the destination's address (the
	// internet has none to a private one).
	Routed bool
}

// Differs reports whether the network and the groups (and the routes)
// disagree.
func (t tried) Differs() bool { return t.Reached != (t.Routed && t.Verdict.Allowed) }

// try does what telnet (tcp), a datagram (udp) or ping (icmp; port is then
// the ICMP type) from inside from's namespace to to's address would, and
// explains it with the rules that decide it.
func try(ctx context.Context, cfg config, from, to, protocol string, port int, out io.Writer) (tried, error) {
	l, err := loadLayout(cfg)
	if err != nil {
		return tried{}, err
	}
	for _, inst := range []string{from, to} {
		if !slices.Contains(l.instances(), inst) {
			return tried{}, fmt.Errorf("no instance %q: one of %v", inst, l.instances())
		}
	}
	if !slices.Contains(l.namespaces(), l.ns(from)) {
		return tried{}, fmt.Errorf("the lab is not up (no namespace %s): scripts/lab.sh up", l.ns(from))
	}
	what := fmt.Sprintf("%s/%d", protocol, port)
	switch protocol {
	case sg.TCP, sg.UDP:
		if port < 1 || port > 65535 {
			return tried{}, fmt.Errorf("port %d is out of range 1-65535", port)
		}
	case sg.ICMP:
		if port != sg.EchoRequest {
			return tried{}, fmt.Errorf("icmp type %d: lab try sends what ping does, an echo request (type %d)", port, sg.EchoRequest)
		}
		what = "icmp echo request (ping)"
	default:
		return tried{}, fmt.Errorf("protocol %q: tcp, udp or icmp", protocol)
	}
	r := tried{From: from, To: to, Protocol: protocol, Port: port}
	r.Verdict = l.explain(from, to, protocol, port)
	r.Routed = l.routed(from, to)
	r.Reached, r.Answer = l.reach(ctx, from, to, protocol, port)
	word := "blocked"
	if r.Reached {
		word = "reached"
	}
	fmt.Fprintf(out, "%s (%s) -> %s (%s) %s: %s (%s)\n", from, l.addr(from), to, l.addrFrom(from, to), what, word, r.Answer)
	flow := fmt.Sprintf("%s %d", protocol, port)
	if protocol == sg.ICMP {
		flow = fmt.Sprintf("icmp type %d", port)
	}
	side := func(group, dir, prep, peer string, rule *sg.RuleAt) {
		g, ok := l.set.Groups[group]
		switch {
		case !ok:
			fmt.Fprintf(out, "  %s's %s: not filtered (outside every security group)\n", group, dir)
		case rule == nil:
			fmt.Fprintf(out, "  %s's %s: no rule allows %s %s %s (%s)\n", group, dir, flow, prep, peer, g.File())
		default:
			fmt.Fprintf(out, "  %s's %s: allowed by %s:%d %q\n", group, dir, rule.File, rule.Line, rule.Rule.Description)
		}
	}
	side(from, sg.Egress, "to", to, r.Verdict.Egress)
	side(to, sg.Ingress, "from", from, r.Verdict.Ingress)
	if !r.Routed {
		fmt.Fprintf(out, "  and no route: %s has no public address, and the internet reaches only public ones\n", to)
	}
	if r.Differs() {
		fmt.Fprintf(out, "DIFFERENCE: the groups say %s, the network %s\n", allowedOrNot(r.Routed && r.Verdict.Allowed), allowedOrNot(r.Reached))
	}
	return r, nil
}

func allowedOrNot(allowed bool) string {
	if allowed {
		return "allowed"
	}
	return "blocked"
}

// tryTCP: a connection, or a refusal (RST: the packet got through and nothing
// listens), is reached; no answer within probeTimeout, or the source's own
// firewall refusing to send (EPERM), is blocked. The check's matrix and try
// both tell reached from blocked this way.
func (l *layout) tryTCP(ctx context.Context, from, addr string) (bool, string) {
	conn, err := l.dialFrom(ctx, from, addr, probeTimeout)
	switch {
	case err == nil:
		conn.Close()
		return true, answerConnected
	case errors.Is(err, syscall.ECONNREFUSED):
		return true, "refused: nothing listens there"
	case errors.Is(err, syscall.EPERM):
		return false, answerOwnFirewall
	case errors.Is(err, syscall.ENETUNREACH):
		return false, answerNoRoute
	default:
		return false, fmt.Sprintf("no answer within %s", probeTimeout)
	}
}

// Answers that more than one probe gives.
const (
	answerConnected   = "connected"
	answerOwnFirewall = "the source's own firewall dropped it"
	answerNoRoute     = "no route: a private address, not reachable from here"
)

// tryPing sends one echo request with ping from inside from's namespace: an
// echo reply is reached; silence, or the source's own firewall refusing it,
// is blocked.
func (l *layout) tryPing(ctx context.Context, from string, addr netip.Addr) (bool, string) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", l.ns(from), "ping", "-n", "-c", "1",
		"-W", fmt.Sprint(int(probeTimeout.Seconds())), addr.String()).CombinedOutput()
	switch {
	case err == nil:
		return true, "echo reply"
	case strings.Contains(string(out), "Operation not permitted"):
		return false, answerOwnFirewall
	case strings.Contains(string(out), "Network is unreachable"):
		return false, answerNoRoute
	default:
		return false, fmt.Sprintf("no echo reply within %s", probeTimeout)
	}
}

// tryUDP sends one datagram: an answer, or the destination's "port
// unreachable" (it got through and nothing listens), is reached; silence is
// blocked, or a listener that never answers.
func (l *layout) tryUDP(from, addr string) (bool, string) {
	conn, err := inNamespace(l.ns(from), func() (net.Conn, error) { return net.Dial("udp", addr) })
	if errors.Is(err, syscall.ENETUNREACH) {
		return false, answerNoRoute
	}
	if err != nil {
		return false, err.Error()
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("roboshop lab try\n")); err != nil {
		if errors.Is(err, syscall.EPERM) {
			return false, answerOwnFirewall
		}
		if errors.Is(err, syscall.ENETUNREACH) {
			return false, answerNoRoute
		}
		return false, err.Error()
	}
	_ = conn.SetReadDeadline(time.Now().Add(probeTimeout))
	_, err = conn.Read(make([]byte, 512))
	switch {
	case err == nil:
		return true, "answered"
	case errors.Is(err, syscall.ECONNREFUSED):
		return true, "port unreachable: nothing listens there"
	default:
		return false, fmt.Sprintf("no answer within %s (or a listener that never answers)", probeTimeout)
	}
}

// shellCommand is a shell inside instance's namespace, as if logged in to it:
// its prompt names the instance and its private address. With args, it runs
// that command and ends.
func shellCommand(cfg config, instance string, args []string) (*exec.Cmd, error) {
	l, err := loadLayout(cfg)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(l.instances(), instance) {
		return nil, fmt.Errorf("no instance %q: one of %v", instance, l.instances())
	}
	if !slices.Contains(l.namespaces(), l.ns(instance)) {
		return nil, fmt.Errorf("the lab is not up (no namespace %s): scripts/lab.sh up", l.ns(instance))
	}
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	shell := []string{"bash", "--norc", "-i"}
	if len(args) > 0 {
		shell = append([]string{"bash", "--norc", "-c"}, shellQuote(args))
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns(instance)}, shell...)...)
	cmd.Env = append(os.Environ(), "ROBOSHOP_LAB_INSTANCE="+instance,
		fmt.Sprintf(`PS1=[%s %s] \w\$ `, instance, l.addr(instance)))
	return cmd, nil
}

// shellQuote joins args into one shell command line, each argument in single
// quotes, so the shell expands nothing in them.
func shellQuote(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

// shell runs shellCommand on the terminal and passes on its exit code.
func shell(cfg config, instance string, args []string) error {
	cmd, err := shellCommand(cfg, instance, args)
	if err != nil {
		return err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	}
	return err
}
