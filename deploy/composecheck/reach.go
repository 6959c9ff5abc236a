package composecheck

import (
	"sort"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/roboshop-go/roboshop/deploy/sg"
)

// Reach is one connection the live check tries: from the network namespace of
// service From's container to port Port of service To's container.
type Reach struct {
	From, To string
	Port     int
	// Open: the connection must succeed. Compose networks have no direction, so
	// it must exactly when a security-group rule joins the two groups either way
	// (the static Check makes the networks say the same).
	Open bool
}

// Reaches lists, for every ordered pair of services in p, each port the target
// listens on: the ports of the group rules that admit another compose service,
// and for the web tier the ports its container publishes. As in Check, the
// services reach each other directly (set.Direct()).
func Reaches(p *types.Project, set *sg.Set) ([]Reach, error) {
	set, err := set.Direct()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(p.Services))
	for name := range p.Services {
		names = append(names, name)
	}
	sort.Strings(names)

	ports := map[string]map[int]bool{}
	joined := map[[2]string]bool{}
	for _, r := range set.Flat() {
		// Only TCP is probed: a compose network has no rule of its own for
		// ICMP or UDP (the containers on it reach each other with both).
		if r.Protocol != sg.TCP {
			continue
		}
		if _, ok := p.Services[r.PeerGroup]; !ok || r.PeerGroup == "" {
			continue
		}
		if _, ok := p.Services[r.Group]; !ok {
			continue
		}
		joined[[2]string{r.Group, r.PeerGroup}] = true
		joined[[2]string{r.PeerGroup, r.Group}] = true
		target := r.Group // ingress: the group listens
		if r.Direction == "egress" {
			target = r.PeerGroup
		}
		if ports[target] == nil {
			ports[target] = map[int]bool{}
		}
		for port := r.FromPort; port <= r.ToPort; port++ {
			ports[target][port] = true
		}
	}
	for _, name := range names {
		if g := set.Groups[name]; g != nil && g.Tier == sg.TierWeb {
			for _, pub := range p.Services[name].Ports {
				if ports[name] == nil {
					ports[name] = map[int]bool{}
				}
				ports[name][int(pub.Target)] = true
			}
		}
	}

	// An outside stand-in listens for its caller alone.
	for name, caller := range Outside {
		if _, ok := p.Services[name]; ok {
			ports[name] = map[int]bool{OutsidePort: true}
			joined[[2]string{name, caller}], joined[[2]string{caller, name}] = true, true
		}
	}

	var out []Reach
	for _, from := range names {
		for _, to := range names {
			if from == to {
				continue
			}
			listening := make([]int, 0, len(ports[to]))
			for port := range ports[to] {
				listening = append(listening, port)
			}
			sort.Ints(listening)
			for _, port := range listening {
				out = append(out, Reach{From: from, To: to, Port: port, Open: joined[[2]string{from, to}]})
			}
		}
	}
	return out, nil
}

// Why compose has no rendering of a rule.
const (
	WhyProtocol  = "a compose network has no protocols or ports: it carries ICMP and UDP between its containers whatever the rules say"
	WhyNoService = "its group has no service in compose"
)

// NotExpressed lists the rules of set that compose cannot render, by key
// (sg.FlatRule.Key), with why: every rule that is not TCP, and every rule
// of a group with no compose service (the bastion; the balancers, whose
// place compose's DNS takes, are left out by set.Direct()).
func NotExpressed(p *types.Project, set *sg.Set) (map[string]string, error) {
	set, err := set.Direct()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range set.Flat() {
		_, here := p.Services[r.Group]
		switch {
		case r.Protocol != sg.TCP:
			out[r.Key] = WhyProtocol
		case !here:
			out[r.Key] = WhyNoService
		}
	}
	return out, nil
}
