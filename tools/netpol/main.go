// netpol-verdicts: the verdicts of cyclonus's network-policy matcher (github.com/mattfenwick/cyclonus
// pkg/matcher, the engine behind its probe analysis) for a table of connections. Reads JSON on
// stdin: the NetworkPolicies and the connections (source, destination, port, protocol); writes, per
// connection, whether the policies allow it and which policies decided each direction.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

type peer struct {
	// Pods: their namespace (with its labels) and labels. External: none of these.
	Namespace       string            `json:"namespace,omitempty"`
	NamespaceLabels map[string]string `json:"namespaceLabels,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	IP              string            `json:"ip"`
}

type connection struct {
	From     peer   `json:"from"`
	To       peer   `json:"to"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
}

type input struct {
	Policies    []*networkingv1.NetworkPolicy `json:"policies"`
	Connections []connection                  `json:"connections"`
}

type direction struct {
	Allowed  bool     `json:"allowed"`
	Allowing []string `json:"allowing"`
	Denying  []string `json:"denying"`
}

type verdict struct {
	Allowed bool      `json:"allowed"`
	Egress  direction `json:"egress"`
	Ingress direction `json:"ingress"`
}

func trafficPeer(p peer) *matcher.TrafficPeer {
	if p.Namespace == "" {
		return &matcher.TrafficPeer{IP: p.IP}
	}
	nsLabels := map[string]string{"kubernetes.io/metadata.name": p.Namespace}
	for k, v := range p.NamespaceLabels {
		nsLabels[k] = v
	}
	return &matcher.TrafficPeer{
		IP:       p.IP,
		Internal: &matcher.InternalPeer{Namespace: p.Namespace, NamespaceLabels: nsLabels, PodLabels: p.Labels},
	}
}

func policyNames(targets []*matcher.Target) []string {
	names := []string{}
	for _, t := range targets {
		for _, rule := range t.SourceRules {
			names = append(names, rule.Namespace+"/"+rule.Name)
		}
	}
	sort.Strings(names)
	return names
}

func directionOf(result *matcher.DirectionResult) direction {
	return direction{
		Allowed:  result.IsAllowed(),
		Allowing: policyNames(result.AllowingTargets),
		Denying:  policyNames(result.DenyingTargets),
	}
}

func run() error {
	decoder := json.NewDecoder(os.Stdin)
	decoder.DisallowUnknownFields()
	var in input
	if err := decoder.Decode(&in); err != nil {
		return fmt.Errorf("reading the policies and connections from stdin: %w", err)
	}
	for _, p := range in.Policies {
		if len(p.Spec.PolicyTypes) == 0 {
			return fmt.Errorf("NetworkPolicy %s/%s has no policyTypes; the stacks always set them", p.Namespace, p.Name)
		}
	}
	policy := matcher.BuildNetworkPolicies(false, in.Policies)
	verdicts := make([]verdict, 0, len(in.Connections))
	for i, c := range in.Connections {
		if c.From.IP == "" || c.To.IP == "" || c.Port == 0 {
			return fmt.Errorf("connection %d needs from.ip, to.ip and port", i)
		}
		protocol := v1.Protocol(c.Protocol)
		if protocol == "" {
			protocol = v1.ProtocolTCP
		}
		result := policy.IsTrafficAllowed(&matcher.Traffic{
			Source:       trafficPeer(c.From),
			Destination:  trafficPeer(c.To),
			ResolvedPort: c.Port,
			Protocol:     protocol,
		})
		verdicts = append(verdicts, verdict{
			Allowed: result.IsAllowed(),
			Egress:  directionOf(result.Egress),
			Ingress: directionOf(result.Ingress),
		})
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"verdicts": verdicts})
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "netpol-verdicts: %v\n", err)
		os.Exit(1)
	}
}
