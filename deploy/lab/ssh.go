package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/roboshop-go/roboshop/deploy/sg"
)

// sshd is Debian's OpenSSH server (scripts/deps.sh lab installs it without
// starting the host's own).
const sshd = "/usr/sbin/sshd"

// sshInstances are the instances whose groups accept SSH: each runs an
// OpenSSH server on 22, as an EC2 instance does, so the port-22 rules meet a
// real listener.
func (l *layout) sshInstances() []string {
	var out []string
	for _, name := range l.groups {
		for _, r := range l.set.Groups[name].Ingress {
			if r.Protocol == sg.TCP && r.Port <= 22 && r.ToPort >= 22 {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

func (l *layout) sshDir() string {
	dir, _ := filepath.Abs(filepath.Join(l.cfg.StateDir, "ssh"))
	return dir
}

// sshConfig is the client configuration up writes: `ssh -F <it>` signs in as
// root with the lab's operator key and knows every instance's host key.
func (l *layout) sshConfig() string { return filepath.Join(l.sshDir(), "config") }

// startSSH makes the lab's keys (one host key per instance, one operator key,
// all new for each lab), the client's configuration, and starts sshd inside
// every instance that accepts SSH, under the instance's name as its hostname
// (a UTS namespace of its own), so a prompt says where one stands.
func (l *layout) startSSH() error {
	if _, err := os.Stat(sshd); err != nil {
		return fmt.Errorf("%s: OpenSSH's server is missing (scripts/deps.sh lab installs openssh-server)", sshd)
	}
	dir := l.sshDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// sshd's privilege separation directory, which Debian's service makes at boot.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return err
	}
	keygen := func(path, comment string) (string, error) {
		if err := run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path); err != nil {
			return "", err
		}
		pub, err := os.ReadFile(path + ".pub")
		return strings.TrimSpace(string(pub)), err
	}
	operator, err := keygen(filepath.Join(dir, "operator"), "roboshop-lab-operator")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(operator+"\n"), 0o600); err != nil {
		return err
	}
	var known strings.Builder
	for _, inst := range l.sshInstances() {
		hostKey := filepath.Join(dir, "host-"+inst)
		pub, err := keygen(hostKey, "roboshop-lab-"+inst)
		if err != nil {
			return err
		}
		addrs := l.addr(inst).String()
		if p, ok := l.publicAddr(inst); ok {
			addrs += "," + p.String()
		}
		fmt.Fprintf(&known, "%s %s\n", addrs, pub)
		conf := filepath.Join(dir, "sshd-"+inst+".conf")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf(`# sshd of the lab's %[1]s instance (scripts/lab.sh up): keys only, root with the lab's operator key.
Port 22
HostKey %[2]s
AuthorizedKeysFile %[3]s
PidFile none
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
SetEnv ROBOSHOP_LAB_INSTANCE=%[1]s
`, inst, hostKey, filepath.Join(dir, "authorized_keys"))), 0o600); err != nil {
			return err
		}
		if err := l.startIn(l.ns(inst), "sshd-"+inst, nil, "unshare", "--uts", "--", "sh", "-c",
			`hostname "$1" && exec `+sshd+` -D -e -f "$2"`, "sh", inst, conf); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(known.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(l.sshConfig(), []byte(fmt.Sprintf(`# The lab's SSH client settings (scripts/lab.sh up): ssh -F %[1]s <address>
Host *
    User root
    IdentityFile %[2]s
    IdentitiesOnly yes
    UserKnownHostsFile %[3]s
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 3
`, l.sshConfig(), filepath.Join(dir, "operator"), filepath.Join(dir, "known_hosts"))), 0o644)
}

// sshCommand is how the host reaches inst over SSH: the bastion on its public
// address, any other instance through it (-J), exactly as on EC2.
func (l *layout) sshCommand(inst string) string {
	pub, _ := l.publicAddr(l.bastion())
	if inst == l.bastion() {
		return fmt.Sprintf("ssh -F %s %s", l.sshConfig(), pub)
	}
	return fmt.Sprintf("ssh -F %s -J %s %s", l.sshConfig(), pub, l.addr(inst))
}

// sshFrom runs the ssh client with args from the host (inst "") or inside
// an instance's namespace, with the lab's client configuration.
func (l *layout) sshFrom(inst string, args ...string) *exec.Cmd {
	argv := append([]string{"ssh", "-F", l.sshConfig()}, args...)
	if inst == "" {
		return exec.Command(argv[0], argv[1:]...)
	}
	return exec.Command("ip", append([]string{"netns", "exec", l.ns(inst)}, argv...)...)
}

// bastion is the admin-tier group: the jump host.
func (l *layout) bastion() string {
	for _, g := range l.groups {
		if l.set.Groups[g].Tier == sg.TierAdmin {
			return g
		}
	}
	return ""
}
