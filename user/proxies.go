package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// trustedProxies is who may say, in X-Real-IP, which client a request is
// for: the frontend's nginx and nobody else, or any neighbour could pick its
// own login-throttle key. Entries are addresses, ranges, or host names
// (compose's "frontend", the chart's headless Service of the frontend pods),
// whose addresses change as containers and pods come and go: a name is looked
// up again when its answer is older than maxAge, or sooner (at most once per
// minGap) when a peer it does not know sends the header, as a new frontend
// does right after it starts.
type trustedProxies struct {
	prefixes []netip.Prefix
	hosts    []string
	lookup   func(ctx context.Context, network, host string) ([]netip.Addr, error)
	minGap   time.Duration
	maxAge   time.Duration
	timeout  time.Duration

	mu       sync.Mutex // one lookup at a time; guards the fields below
	resolved []netip.Addr
	lookedAt time.Time // zero: never
	okAt     time.Time // when resolved was last answered
}

func newTrustedProxies(entries []string) *trustedProxies {
	p := &trustedProxies{lookup: net.DefaultResolver.LookupNetIP,
		minGap: time.Second, maxAge: 30 * time.Second, timeout: time.Second}
	for _, e := range entries {
		if prefix, ok := parseProxy(e); ok {
			p.prefixes = append(p.prefixes, prefix)
		} else {
			p.hosts = append(p.hosts, e)
		}
	}
	return p
}

// parseProxy reads an address or a range; ok is false for a host name.
func parseProxy(entry string) (netip.Prefix, bool) {
	if prefix, err := netip.ParsePrefix(entry); err == nil {
		return prefix.Masked(), true
	}
	if addr, err := netip.ParseAddr(entry); err == nil {
		return netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()), true
	}
	return netip.Prefix{}, false
}

// validProxyHost is a DNS name as resolvers accept it: labels of letters,
// digits and hyphens.
func validProxyHost(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

// clientAddr is the address the request is for: X-Real-IP when the peer is a
// trusted proxy and the header holds an address, else the peer's own.
func (p *trustedProxies) clientAddr(r *http.Request) string {
	addrPort, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	peer := addrPort.Addr().Unmap()
	claimed, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get("X-Real-IP")))
	if err != nil || !p.trusts(r.Context(), peer) {
		return peer.String()
	}
	return claimed.Unmap().String()
}

func (p *trustedProxies) trusts(ctx context.Context, peer netip.Addr) bool {
	for _, prefix := range p.prefixes {
		if prefix.Contains(peer) {
			return true
		}
	}
	if len(p.hosts) == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	known := p.knows(peer)
	if p.lookedAt.IsZero() || now.Sub(p.okAt) >= p.maxAge && now.Sub(p.lookedAt) >= p.minGap ||
		!known && now.Sub(p.lookedAt) >= p.minGap {
		p.refresh(ctx, now)
		known = p.knows(peer)
	}
	return known
}

// refresh looks every name up again; a name whose lookup fails keeps no
// addresses unless every lookup failed, when the last answer stands (a
// resolver's hiccup does not turn the shop's proxy into a stranger).
func (p *trustedProxies) refresh(ctx context.Context, now time.Time) {
	p.lookedAt = now
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var addrs []netip.Addr
	answered := false
	for _, host := range p.hosts {
		found, err := p.lookup(ctx, "ip", host)
		if err != nil {
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
				answered = true // the name is gone: nobody is trusted by it
			}
			continue
		}
		answered = true
		for _, a := range found {
			addrs = append(addrs, a.Unmap())
		}
	}
	if answered {
		p.resolved, p.okAt = addrs, now
	}
}

func (p *trustedProxies) knows(peer netip.Addr) bool { return slices.Contains(p.resolved, peer) }
