package sg

import (
	"encoding/json"
	"fmt"
	"os"
)

// CheckReport is a reachability check's result as data (the lab's `check
// -json`): how many (source, destination, port) probes ran, how many
// connected, each one where the network and the definitions disagree, and
// where the definitions themselves break the security policy (Set.Check).
type CheckReport struct {
	Probes      int          `json:"probes"`
	Allowed     int          `json:"allowed"`
	Differences []Difference `json:"differences"`
	Policy      []string     `json:"policy"`
}

// Difference is one probe whose outcome the definitions do not predict.
type Difference struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Protocol is tcp where empty; for icmp, Port is the ICMP type (EchoRequest: ping).
	Protocol         string `json:"protocol,omitempty"`
	Port             int    `json:"port"`
	DefinitionsAllow bool   `json:"definitions_allow"`
	NetworkAllows    bool   `json:"network_allows"`
}

func (d Difference) String() string {
	to := fmt.Sprintf("%s:%d", d.To, d.Port)
	switch d.Protocol {
	case UDP:
		to += "/udp"
	case ICMP:
		to = fmt.Sprintf("%s (icmp type %d)", d.To, d.Port)
	}
	return fmt.Sprintf("%s -> %s: definitions say %s, network %s", d.From, to, allowedWord(d.DefinitionsAllow), allowedWord(d.NetworkAllows))
}

func allowedWord(allowed bool) string {
	if allowed {
		return "allowed"
	}
	return "blocked"
}

// WriteFile writes r as JSON to path.
func (r CheckReport) WriteFile(path string) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

// ReadCheckReport reads what WriteFile wrote.
func ReadCheckReport(path string) (CheckReport, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return CheckReport{}, err
	}
	var r CheckReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return CheckReport{}, fmt.Errorf("check report %s: %w", path, err)
	}
	return r, nil
}
