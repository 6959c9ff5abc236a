// Package kube renders deploy/security-groups as the Helm chart's
// NetworkPolicies, the fourth rendering of the groups after Terraform, docker
// compose and the lab: one policy per group, a default deny for ingress and
// egress, and DNS to the cluster's DNS. The output is committed as a chart
// template (PoliciesFile); a test fails when it drifts from the YAML and
// proves the reachability it allows equal to the groups'.
package kube

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/roboshop-go/roboshop/deploy/sg"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// PoliciesFile is where the rendered policies live, relative to deploy/.
const PoliciesFile = "helm/roboshop/templates/networkpolicies.yaml"

// Label keys the chart puts on every pod (templates/_helpers.tpl).
const (
	NameLabel      = "app.kubernetes.io/name"
	InstanceLabel  = "app.kubernetes.io/instance"
	ComponentLabel = "app.kubernetes.io/component"
)

// releaseName stands for the release until Helm renders the template.
const releaseName = "{{ .Release.Name }}"

// containerPorts maps a group's security-group port to its pod's port where
// they differ: Pod Security "restricted" drops NET_BIND_SERVICE, so the
// frontend's nginx listens on 8080 and its Service maps 80 to it.
var containerPorts = map[string]map[int]int{"frontend": {80: 8080}}

// PodPort is the container port that stands for group's security-group port,
// and false for a port the pod has no equivalent of (the frontend's 8080 is
// its port 80).
func PodPort(group string, port int) (int, bool) {
	m := containerPorts[group]
	if p, ok := m[port]; ok {
		return p, true
	}
	for _, to := range m {
		if to == port {
			return 0, false
		}
	}
	return port, true
}

// Dropped is a rule with no pod equivalent, and why.
type Dropped struct {
	Group     string
	Direction string
	Rule      sg.Rule
	Why       string
}

// Why a rule has no pod equivalent.
const (
	WhyLB       = "the load balancer is not a pod; on a cluster the Ingress controller takes its place, and what it may reach, the frontend accepts from any source"
	WhyAdmin    = "the bastion is an EC2 host; on a cluster, kubectl exec through the API server (and RBAC) takes its place"
	WhySSH      = "pods run no SSH server; kubectl exec replaces it"
	WhyDownload = "first-boot downloads: the kubelet pulls images, the pod itself needs no internet"
	// A NetworkPolicy's ports are TCP, UDP or SCTP: it has no way to say
	// ICMP, and enforcers differ in what they do with it.
	WhyICMP = "a NetworkPolicy cannot express ICMP (its ports are TCP, UDP and SCTP only); kubectl exec and the pods' probes take ping's place"
)

// NetworkPolicies renders set, as sg.Set.Direct returns it (Services take
// the internal balancer's place): the default policy first, then one per
// group that has pods (all but the bastion and the load balancer), and the
// rules that have no pod equivalent.
func NetworkPolicies(set *sg.Set) ([]networkingv1.NetworkPolicy, []Dropped) {
	var dropped []Dropped
	drop := func(g *sg.Group, dir string, r sg.Rule, why string) {
		dropped = append(dropped, Dropped{Group: g.Name, Direction: dir, Rule: r, Why: why})
	}
	policies := []networkingv1.NetworkPolicy{defaultPolicy()}
	for _, name := range set.Names() {
		g := set.Groups[name]
		if why := withoutPods(g); why != "" {
			for _, r := range g.Ingress {
				drop(g, sg.Ingress, r, why)
			}
			for _, r := range g.Egress {
				drop(g, sg.Egress, r, why)
			}
			continue
		}
		p := policy(name, "the "+name+" security group: "+g.Description)
		p.Spec.Ingress, p.Spec.Egress = []networkingv1.NetworkPolicyIngressRule{}, []networkingv1.NetworkPolicyEgressRule{}
		for _, r := range g.Ingress {
			switch {
			case r.Protocol == sg.ICMP:
				drop(g, sg.Ingress, r, WhyICMP)
			case r.Port == 22:
				drop(g, sg.Ingress, r, WhySSH)
			case r.Group != "" && set.Groups[r.Group].Tier == sg.TierAdmin:
				drop(g, sg.Ingress, r, WhyAdmin)
			case r.Group != "" && r.Group != sg.LoadBalancer:
				p.Spec.Ingress = appendIngress(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{
					From: []networkingv1.NetworkPolicyPeer{{PodSelector: selector(r.Group)}}, Ports: ports(name, r)})
			default:
				// The load balancer (or the internet, which the policy check
				// lets reach only the load balancer): any source, since on a
				// cluster the Ingress controller or a LoadBalancer Service
				// takes its place, from addresses the chart cannot know.
				p.Spec.Ingress = appendIngress(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{Ports: ports(name, r)})
			}
		}
		for _, r := range g.Egress {
			switch {
			case r.Protocol == sg.ICMP:
				drop(g, sg.Egress, r, WhyICMP)
			case r.Port == 22:
				drop(g, sg.Egress, r, WhySSH)
			case r.Group != "":
				p.Spec.Egress = append(p.Spec.Egress, networkingv1.NetworkPolicyEgressRule{
					To: []networkingv1.NetworkPolicyPeer{{PodSelector: selector(r.Group)}}, Ports: ports(r.Group, r)})
			default:
				drop(g, sg.Egress, r, WhyDownload)
			}
		}
		policies = append(policies, p)
	}
	return policies, dropped
}

// withoutPods is why group g has no pods on a cluster, or "" when it has:
// the bastion is an EC2 host, and the load balancer (sg.LoadBalancer) is the
// Ingress controller's place.
func withoutPods(g *sg.Group) string {
	switch {
	case g.Tier == sg.TierAdmin:
		return WhyAdmin
	case g.Name == sg.LoadBalancer:
		return WhyLB
	}
	return ""
}

// appendIngress adds rule unless an equal one is there (0.0.0.0/0 and ::/0
// both become "any source").
func appendIngress(rules []networkingv1.NetworkPolicyIngressRule, rule networkingv1.NetworkPolicyIngressRule) []networkingv1.NetworkPolicyIngressRule {
	for _, r := range rules {
		if reflect.DeepEqual(r, rule) {
			return rules
		}
	}
	return append(rules, rule)
}

func policy(name, description string) networkingv1.NetworkPolicy {
	return networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      map[string]string{NameLabel: "roboshop", InstanceLabel: releaseName, ComponentLabel: name},
			Annotations: map[string]string{"roboshop/source": "deploy/security-groups/" + name + ".yaml", "roboshop/description": description},
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *selector(name),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
}

// defaultPolicy selects every pod of the release: nothing in, nothing out
// but DNS, unless a group's policy allows it.
func defaultPolicy() networkingv1.NetworkPolicy {
	p := policy("default-deny", "every pod of the release: deny all but DNS unless its group's policy allows it")
	p.Labels[ComponentLabel] = "network-policy"
	delete(p.Annotations, "roboshop/source")
	p.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{NameLabel: "roboshop", InstanceLabel: releaseName}}
	udp, tcp, dns := corev1.ProtocolUDP, corev1.ProtocolTCP, intstr.FromInt32(53)
	p.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
		}},
		Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}},
	}}
	return p
}

func selector(group string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{NameLabel: "roboshop", InstanceLabel: releaseName, ComponentLabel: group}}
}

// ports is rule's port range on the pods of group.
func ports(group string, r sg.Rule) []networkingv1.NetworkPolicyPort {
	proto := corev1.Protocol(strings.ToUpper(r.Protocol))
	from, _ := PodPort(group, r.Port)
	port := networkingv1.NetworkPolicyPort{Protocol: &proto, Port: new(intstr.FromInt32(int32(from)))}
	if r.ToPort != r.Port {
		to, _ := PodPort(group, r.ToPort)
		port.EndPort = new(int32(to))
	}
	return []networkingv1.NetworkPolicyPort{port}
}

// Render is the chart template: the policies as YAML documents, behind
// networkPolicy.enabled, and for a datastore the chart points at an external
// server, its owner's egress to external.cidr.
func Render(set *sg.Set) ([]byte, error) {
	balancers := []string{}
	for _, name := range set.Names() {
		if set.Groups[name].IsBalancer() {
			balancers = append(balancers, name)
		}
	}
	set, err := set.Direct()
	if err != nil {
		return nil, err
	}
	policies, dropped := NetworkPolicies(set)
	var b bytes.Buffer
	fmt.Fprintf(&b, `{{- /*
Generated from deploy/security-groups by deploy/kube: do not edit. After
changing a group, run: cd deploy && ROBOSHOP_WRITE_POLICIES=1 go test ./kube
Not pods: %s. Services take their place, so each caller a listener admits
reaches that listener's pods directly, on the port it forwards to.
Rules with no pod equivalent:
`, strings.Join(balancers, ", "))
	for _, d := range dropped {
		fmt.Fprintf(&b, "  %s %s %s %s %s: %s\n", d.Group, d.Direction, d.Rule.What(), peerWord(d), d.Rule.Peer(), d.Why)
	}
	b.WriteString("*/}}\n{{- if .Values.networkPolicy.enabled }}\n")
	for _, p := range policies {
		doc, err := yaml.Marshal(p)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(cleanYAML(doc))
	}
	if err := externalEgress(&b, set); err != nil {
		return nil, err
	}
	b.WriteString("{{- end }}\n")
	return b.Bytes(), nil
}

// externalEgress writes, for each datastore, a policy the chart renders only
// when that datastore is external: its owner may reach external.cidr on the
// datastore's ports (the in-cluster rule then selects no pod).
func externalEgress(b *bytes.Buffer, set *sg.Set) error {
	for _, name := range set.Names() {
		g := set.Groups[name]
		if g.Tier != sg.TierDatastore {
			continue
		}
		values := ".Values.datastores." + valuesKey(name)
		p := policy(name+"-external", "egress from "+g.Owner+" to its external "+name)
		p.Labels[ComponentLabel] = g.Owner
		p.Annotations["roboshop/source"] = "deploy/security-groups/" + name + ".yaml"
		p.Spec.PodSelector = *selector(g.Owner)
		p.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
		for _, r := range g.Ingress {
			if r.Group != g.Owner {
				continue
			}
			p.Spec.Egress = append(p.Spec.Egress, networkingv1.NetworkPolicyEgressRule{
				To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "{{ " + values + ".external.cidr }}"}}},
				Ports: ports(name, r),
			})
		}
		doc, err := yaml.Marshal(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(b, "{{- if or %[1]s.external.uri %[1]s.external.existingSecret }}\n", values)
		fmt.Fprintf(b, "{{- $_ := required \"datastores.%s.external.cidr: the address range of the external %s, which the NetworkPolicy lets %s reach\" %s.external.cidr }}\n",
			valuesKey(name), name, g.Owner, values)
		b.WriteString("---\n")
		b.Write(cleanYAML(doc))
		b.WriteString("{{- end }}\n")
	}
	return nil
}

// valuesKey is a datastore's key under .Values.datastores: cart-redis is cartRedis.
func valuesKey(name string) string {
	parts := strings.Split(name, "-")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

// cleanYAML drops the empty fields the API types always marshal.
func cleanYAML(doc []byte) []byte {
	lines := strings.Split(string(doc), "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool {
		t := strings.TrimSpace(l)
		return t == "creationTimestamp: null" || t == "status: {}"
	})
	return []byte(strings.Join(lines, "\n"))
}

func peerWord(d Dropped) string {
	if d.Direction == sg.Ingress {
		return "from"
	}
	return "to"
}
