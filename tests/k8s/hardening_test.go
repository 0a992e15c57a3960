package k8s

import (
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// No pod carries a Kubernetes API token it does not use: only pods with a service account of
// their own (Prometheus, for service discovery) may mount one.
func TestPodsMountNoServiceAccountTokenTheyDoNotUse(t *testing.T) {
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			for _, w := range workloads(Render(t, overlay)) {
				spec := w.Template.Spec
				if spec.ServiceAccountName != "" {
					continue
				}
				if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
					t.Errorf("%s: automountServiceAccountToken must be false (the pod has no use for "+
						"the API)", w)
				}
			}
		})
	}
}

// krond's containers never write to their image: the root file system is read-only, and a
// worker's commands get scratch space in emptyDirs at /tmp and at their home and working
// directory /var/lib/krond.
func TestKrondRootFilesystemsAreReadOnly(t *testing.T) {
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			for _, w := range workloads(Render(t, overlay)) {
				emptyDirs := map[string]bool{}
				for _, v := range w.Template.Spec.Volumes {
					emptyDirs[v.Name] = v.EmptyDir != nil
				}
				for _, c := range w.Template.Spec.Containers {
					if !isKrond(c) {
						continue
					}
					sc := c.SecurityContext
					if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
						t.Errorf("%s container %s: readOnlyRootFilesystem must be true", w, c.Name)
					}
					if len(c.Args) == 0 || c.Args[0] != "worker" {
						continue
					}
					for _, dir := range []string{"/tmp", "/var/lib/krond"} {
						ok := false
						for _, m := range c.VolumeMounts {
							ok = ok || (m.MountPath == dir && emptyDirs[m.Name] && !m.ReadOnly)
						}
						if !ok {
							t.Errorf("%s container %s: no writable emptyDir at %s for the jobs", w, c.Name, dir)
						}
					}
				}
			}
		})
	}
}

func policies(r *Rendered) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, o := range r.Kind("NetworkPolicy") {
		out = append(out, o.Obj.(*networkingv1.NetworkPolicy))
	}
	return out
}

func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return s.Matches(labels.Set(podLabels))
}

// portAllowed: whether `rule` admits `port` (a container port of the destination pod).
func portAllowed(ports []networkingv1.NetworkPolicyPort, port corev1.ContainerPort) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil {
			return true
		}
		if (p.Port.Type == intstr.String && p.Port.StrVal == port.Name) ||
			(p.Port.Type == intstr.Int && p.Port.IntVal == port.ContainerPort) {
			return true
		}
	}
	return false
}

// Every component has exactly one NetworkPolicy that limits who may connect to it, and
// Prometheus may reach the port it scrapes on every pod that asks to be scraped. Components
// that need no open Internet (Kafka, the scheduler, the topics job, Prometheus, Grafana) limit
// their egress too, and those that talk to Kafka may reach its client port.
func TestEveryComponentHasANetworkPolicy(t *testing.T) {
	prometheus := map[string]string{"app.kubernetes.io/name": "prometheus"}
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			pols := policies(r)
			var kafkaLabels map[string]string
			var kafkaClient corev1.ContainerPort
			for _, w := range workloads(r) {
				if w.Name == "kafka" {
					kafkaLabels = w.Template.Labels
					for _, p := range w.Template.Spec.Containers[0].Ports {
						if p.Name == "client" {
							kafkaClient = p
						}
					}
				}
			}
			for _, w := range workloads(r) {
				var mine []*networkingv1.NetworkPolicy
				for _, p := range pols {
					if selects(t, &p.Spec.PodSelector, w.Template.Labels) {
						mine = append(mine, p)
					}
				}
				if len(mine) != 1 {
					t.Errorf("%s: selected by %d NetworkPolicies, want exactly 1", w, len(mine))
					continue
				}
				p := mine[0]
				types := map[networkingv1.PolicyType]bool{}
				for _, pt := range p.Spec.PolicyTypes {
					types[pt] = true
				}
				if !types[networkingv1.PolicyTypeIngress] {
					t.Errorf("%s: NetworkPolicy %s does not limit ingress", w, p.Name)
				}
				// The port Prometheus scrapes (prometheus.io/port) is open to Prometheus.
				if scrape := w.Template.Annotations["prometheus.io/port"]; scrape != "" &&
					w.Template.Annotations["prometheus.io/scrape"] == "true" {
					var port *corev1.ContainerPort
					for _, c := range w.Template.Spec.Containers {
						for i, cp := range c.Ports {
							if strconv.Itoa(int(cp.ContainerPort)) == scrape {
								port = &c.Ports[i]
							}
						}
					}
					allowed := false
					for _, rule := range p.Spec.Ingress {
						from := len(rule.From) == 0
						for _, peer := range rule.From {
							from = from || selects(t, peer.PodSelector, prometheus)
						}
						allowed = allowed || (from && port != nil && portAllowed(rule.Ports, *port))
					}
					if !allowed {
						t.Errorf("%s: NetworkPolicy %s keeps Prometheus from its metrics port %s", w, p.Name,
							scrape)
					}
				}
				component := w.Template.Labels["app.kubernetes.io/component"]
				open := component == "worker" || w.Name == "alertmanager"
				if !open && !types[networkingv1.PolicyTypeEgress] {
					t.Errorf("%s: NetworkPolicy %s does not limit egress", w, p.Name)
				}
				talksToKafka := component == "scheduler" || component == "topics" || component == "console"
				if talksToKafka && types[networkingv1.PolicyTypeEgress] && externalKafka[overlay] {
					if !egressReachesBrokers(t, r, p) {
						t.Errorf("%s: NetworkPolicy %s keeps it from the brokers of KROND_BROKERS", w, p.Name)
					}
				} else if talksToKafka && types[networkingv1.PolicyTypeEgress] {
					allowed := false
					for _, rule := range p.Spec.Egress {
						to := len(rule.To) == 0
						for _, peer := range rule.To {
							to = to || selects(t, peer.PodSelector, kafkaLabels)
						}
						allowed = allowed || (to && portAllowed(rule.Ports, kafkaClient))
					}
					if !allowed {
						t.Errorf("%s: NetworkPolicy %s keeps it from Kafka's client port", w, p.Name)
					}
				}
			}
			for _, p := range pols {
				if !strings.HasPrefix(p.Name, "krond") && p.Spec.PodSelector.MatchLabels == nil {
					t.Errorf("NetworkPolicy %s selects every pod of the namespace", p.Name)
				}
			}
		})
	}
}
