package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The lessons in docs/learn are written for the lab a learner starts with
// the defaults; the test runs them on a lab of its own beside any other, and
// maps between the two.
const (
	docState  = "/run/roboshop-lab"
	docListen = "127.0.0.1:8080"
	docSubnet = "10.77.0."
	docPublic = "198.51.100."
	docPrefix = "rs-"
)

// step is one command of a lesson and the output the lesson shows for it.
type step struct {
	line    int // where the command is in its file
	command string
	want    []string
}

// lessonSteps reads the console blocks of a lesson: a line "$ command" is a
// command, the lines after it, up to the next command or the block's end,
// its output. Other blocks (sh) are for the learner to type, not run here.
func lessonSteps(text string) []step {
	var steps []step
	inConsole := false
	for i, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "```console"):
			inConsole = true
		case strings.HasPrefix(line, "```"):
			inConsole = false
		case !inConsole:
		case strings.HasPrefix(line, "$ "):
			steps = append(steps, step{line: i + 1, command: strings.TrimPrefix(line, "$ ")})
		case len(steps) > 0:
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, line)
		}
	}
	return steps
}

var (
	millis     = regexp.MustCompile(`\d+(\.\d+)?(/\d+(\.\d+)?)* ?ms\b`)
	peerIndex  = regexp.MustCompile(`@if\d+`)
	spaces     = regexp.MustCompile(`[ \t]+`)
	bashPrompt = "__LESSON_STEP_DONE__"
)

// normalise makes an output comparable across runs and machines: timings
// and interface numbers out, runs of blanks one blank, no trailing blanks.
func normalise(lines []string) string {
	var out []string
	for _, l := range lines {
		l = millis.ReplaceAllString(l, "<ms>")
		l = peerIndex.ReplaceAllString(l, "@ifN")
		l = strings.TrimRight(spaces.ReplaceAllString(l, " "), " ")
		out = append(out, l)
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n")
}

// session is one bash, as a learner's terminal: variables set by one command
// are there for the next.
type session struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func newSession(t *testing.T, dir string, env []string) *session {
	cmd := exec.Command("bash", "--noprofile", "--norc")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &session{cmd: cmd, in: in, out: bufio.NewReader(out)}
	// The test runs as root: sudo is what a learner types, nothing more here.
	if _, err := s.run(`sudo() { "$@"; }`, time.Minute); err != nil {
		t.Fatal(err)
	}
	return s
}

// run runs one command (its stdin empty, its stderr with its stdout) and
// returns what it printed, within timeout.
func (s *session) run(command string, timeout time.Duration) (string, error) {
	if _, err := fmt.Fprintf(s.in, "{ %s\n} </dev/null 2>&1; printf '\\n%s\\n'\n", command, bashPrompt); err != nil {
		return "", err
	}
	type result struct {
		text string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var b strings.Builder
		for {
			line, err := s.out.ReadString('\n')
			if err != nil {
				done <- result{b.String(), err}
				return
			}
			if line == bashPrompt+"\n" {
				done <- result{strings.TrimSuffix(b.String(), "\n"), nil}
				return
			}
			b.WriteString(line)
		}
	}()
	select {
	case r := <-done:
		return r.text, r.err
	case <-time.After(timeout):
		return "", fmt.Errorf("no end within %s", timeout)
	}
}

func (s *session) close() {
	s.in.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}

// TestLessons runs every command of docs/learn's lessons, in order, on a
// real lab, through scripts/lab.sh as a learner would, and compares what each
// prints with what the lesson shows (addresses, paths and timings mapped), so
// the lessons cannot drift from what the lab does. ROBOSHOP_WRITE_LESSONS=1
// writes what the commands printed into the lessons instead.
func TestLessons(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the lessons' lab needs root (network namespaces, nftables): scripts/test.sh runs as root")
	}
	repo, _ := filepath.Abs("../..")
	lessons, err := filepath.Glob(filepath.Join(repo, "docs", "learn", "[0-9]*.md"))
	if err != nil || len(lessons) < 5 {
		t.Fatalf("docs/learn has %d lessons, want 5 (%v)", len(lessons), err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	state := filepath.Join(t.TempDir(), "state")
	for dir := filepath.Dir(state); dir != os.TempDir(); dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o755); err != nil { // MariaDB runs as mysql
			t.Fatal(err)
		}
	}
	// As long as the lessons' own, so the tables keep their columns.
	cfg := config{Prefix: "rl", Subnet: "10.79.0", Public: "203.0.113", Listen: listen, Repo: repo, StateDir: state}
	flags := fmt.Sprintf("-prefix %s -subnet %s -public %s -listen %s -state %s", cfg.Prefix, cfg.Subnet, cfg.Public, cfg.Listen, cfg.StateDir)
	toTest := strings.NewReplacer(docState, state, docListen, listen, docSubnet, cfg.Subnet+".", docPublic, cfg.Public+".", " "+docPrefix, " "+cfg.Prefix+"-")
	toDoc := strings.NewReplacer(state, docState, listen, docListen, cfg.Subnet+".", docSubnet, cfg.Public+".", docPublic, cfg.Prefix+"-", docPrefix)
	_ = down(cfg, io.Discard) // a previous crashed run of this test
	t.Cleanup(func() {
		if err := down(cfg, io.Discard); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	s := newSession(t, repo, []string{"ROBOSHOP_LAB_FLAGS=" + flags})
	defer s.close()
	write := os.Getenv("ROBOSHOP_WRITE_LESSONS") != ""
	for _, path := range lessons {
		name := filepath.Base(path)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		steps := lessonSteps(string(raw))
		if len(steps) == 0 {
			t.Fatalf("%s has no console block to run", name)
		}
		ok := t.Run(strings.TrimSuffix(name, ".md"), func(t *testing.T) {
			start := time.Now()
			lines := strings.Split(string(raw), "\n")
			var rewritten []string // the lesson with what the commands printed, for ROBOSHOP_WRITE_LESSONS
			next := 0
			for _, st := range steps {
				got, err := s.run(toTest.Replace(st.command), 3*time.Minute)
				if err != nil {
					t.Fatalf("%s:%d: %s: %v", name, st.line, st.command, err)
				}
				got = toDoc.Replace(got)
				if write {
					rewritten = append(rewritten, lines[next:st.line]...)
					if got = strings.TrimRight(got, "\n"); got != "" {
						rewritten = append(rewritten, strings.Split(got, "\n")...)
					}
					next = st.line + len(st.want)
					continue
				}
				if normalise(strings.Split(got, "\n")) != normalise(st.want) {
					t.Fatalf("%s:%d: %s\n--- the lesson shows:\n%s\n--- the lab printed:\n%s", name, st.line, st.command, strings.Join(st.want, "\n"), got)
				}
			}
			if write {
				rewritten = append(rewritten, lines[next:]...)
				if err := os.WriteFile(path, []byte(strings.Join(rewritten, "\n")), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%s: %d commands in %s", name, len(steps), time.Since(start).Round(100*time.Millisecond))
		})
		if !ok {
			return // the next lessons stand on this one
		}
	}
}

// TestThePublicSegmentMustBeFree: up refuses a public /24 the machine
// already routes (its own network), and takes one it does not.
func TestThePublicSegmentMustBeFree(t *testing.T) {
	out, err := exec.Command("ip", "-4", "-o", "route", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	used := ""
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if p, err := netip.ParsePrefix(f[0]); err == nil && p.Addr().Is4() && p.Bits() <= 24 {
			a := p.Addr().As4()
			used = fmt.Sprintf("%d.%d.%d", a[0], a[1], a[2])
			break
		}
	}
	if used == "" {
		t.Fatalf("this machine routes no /24 to try (ip route: %q)", out)
	}
	repo, _ := filepath.Abs("../..")
	for _, tc := range []struct {
		public string
		free   bool
	}{{used, false}, {"203.0.113", true}} {
		l, err := loadLayout(config{Prefix: "rs", Subnet: "10.77.0", Public: tc.public, Repo: repo})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.publicIsFree(); (err == nil) != tc.free {
			t.Errorf("-public %s: %v, want free %v", tc.public, err, tc.free)
		}
	}
}
