package k8s

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Workload is an object with a pod template.
type Workload struct {
	Object
	Template *corev1.PodTemplateSpec
	Replicas int32
	Selector *metav1.LabelSelector
}

func workloads(r *Rendered) []Workload {
	var out []Workload
	for _, o := range r.Objects {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			out = append(out, Workload{o, &v.Spec.Template, deref(v.Spec.Replicas, 1), v.Spec.Selector})
		case *appsv1.StatefulSet:
			out = append(out, Workload{o, &v.Spec.Template, deref(v.Spec.Replicas, 1), v.Spec.Selector})
		case *batchv1.Job:
			out = append(out, Workload{o, &v.Spec.Template, 1, v.Spec.Selector})
		}
	}
	return out
}

func deref(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// isKrond tells a container running the krond image (any registry, any tag).
func isKrond(c corev1.Container) bool {
	ref := c.Image
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return path.Base(ref) == "krond"
}

// flag returns the value of --name in args ("--name v" or "--name=v").
func flag(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if strings.HasPrefix(a, name+"=") {
			return strings.TrimPrefix(a, name+"="), true
		}
	}
	return "", false
}

func selectorMatches(t *testing.T, sel *metav1.LabelSelector, set map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("bad selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(set))
}

func configMapData(t *testing.T, r *Rendered, name string) map[string]string {
	t.Helper()
	return r.Get(t, "ConfigMap", name).Obj.(*corev1.ConfigMap).Data
}

// envKeys is every environment variable a container sees: env, and the keys of its envFrom
// ConfigMaps and Secrets.
func envKeys(t *testing.T, r *Rendered, c corev1.Container) map[string]string {
	t.Helper()
	keys := map[string]string{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			for k, v := range configMapData(t, r, ef.ConfigMapRef.Name) {
				keys[ef.Prefix+k] = v
			}
		case ef.SecretRef != nil:
			s := r.Get(t, "Secret", ef.SecretRef.Name).Obj.(*corev1.Secret)
			for k, v := range s.Data {
				keys[ef.Prefix+k] = string(v)
			}
		}
	}
	for _, e := range c.Env {
		keys[e.Name] = e.Value
	}
	return keys
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expand resolves $(VAR) as the kubelet does in args (unresolved references stay as they are).
func expand(s string, env map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := env[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// Checks that the API server would make and that a strict decode does not: names, selectors
// that match their templates, references that resolve to rendered objects, port names.
func TestAPIServerRules(t *testing.T) {
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			exists := map[string]bool{}
			for _, o := range r.Objects {
				exists[o.GVK.Kind+"/"+o.Name] = true
				if errs := validation.IsDNS1123Subdomain(o.Name); len(errs) > 0 {
					t.Errorf("%s: name: %v", o, errs)
				}
				if m, ok := o.Obj.(metav1.Object); ok && o.GVK.Kind != "Namespace" &&
					m.GetNamespace() != "krond" {
					t.Errorf("%s: namespace %q, want krond", o, m.GetNamespace())
				}
			}
			for _, w := range workloads(r) {
				if w.GVK.Kind != "Job" && !selectorMatches(t, w.Selector, w.Template.Labels) {
					t.Errorf("%s: selector %v does not match its template's labels %v", w, w.Selector,
						w.Template.Labels)
				}
				checkPodSpec(t, r, w.String(), &w.Template.Spec, exists)
			}
			for _, o := range r.Kind("Service") {
				svc := o.Obj.(*corev1.Service)
				if errs := validation.IsDNS1035Label(o.Name); len(errs) > 0 {
					t.Errorf("%s: %v", o, errs)
				}
				var selected []Workload
				for _, w := range workloads(r) {
					if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.Template.Labels)) {
						selected = append(selected, w)
					}
				}
				if len(selected) == 0 {
					t.Errorf("%s: selector %v selects no pod template", o, svc.Spec.Selector)
				}
				for _, p := range svc.Spec.Ports {
					if p.TargetPort.StrVal == "" {
						continue
					}
					for _, w := range selected {
						if !hasPortNamed(w.Template.Spec.Containers, p.TargetPort.StrVal) {
							t.Errorf("%s: targetPort %q is not a port of %s", o, p.TargetPort.StrVal, w)
						}
					}
				}
			}
			for _, o := range r.Kind("RoleBinding") {
				rb := o.Obj.(*rbacv1.RoleBinding)
				if !exists[rb.RoleRef.Kind+"/"+rb.RoleRef.Name] {
					t.Errorf("%s: roleRef %s/%s not rendered", o, rb.RoleRef.Kind, rb.RoleRef.Name)
				}
				for _, s := range rb.Subjects {
					if s.Kind == "ServiceAccount" && !exists["ServiceAccount/"+s.Name] {
						t.Errorf("%s: subject ServiceAccount/%s not rendered", o, s.Name)
					}
				}
			}
			for _, o := range r.Kind("ConfigMap") {
				cm := o.Obj.(*corev1.ConfigMap)
				size := 0
				for k, v := range cm.Data {
					size += len(k) + len(v)
					if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
						t.Errorf("%s: key %q: %v", o, k, errs)
					}
				}
				// kubectl apply (client side) keeps a copy of the object in the
				// last-applied-configuration annotation, limited to 256 KiB in total.
				if size > 200*1024 {
					t.Errorf("%s: %d bytes: too large for `kubectl apply` (annotations <= 256 KiB)", o, size)
				}
			}
		})
	}
}

func hasPortNamed(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func checkPodSpec(t *testing.T, r *Rendered, owner string, spec *corev1.PodSpec, exists map[string]bool) {
	t.Helper()
	volumes := map[string]bool{}
	apiDataVolumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
		apiDataVolumes[v.Name] = v.ConfigMap != nil || v.Secret != nil || v.Projected != nil
		if v.ConfigMap != nil && !exists["ConfigMap/"+v.ConfigMap.Name] {
			t.Errorf("%s: volume %s: ConfigMap %s not rendered", owner, v.Name, v.ConfigMap.Name)
		}
		if v.Secret != nil && !exists["Secret/"+v.Secret.SecretName] {
			t.Errorf("%s: volume %s: Secret %s not rendered", owner, v.Name, v.Secret.SecretName)
		}
	}
	if owner[:strings.Index(owner, "/")] == "StatefulSet" {
		for _, w := range workloads(r) {
			if w.String() == owner {
				for _, c := range w.Obj.(*appsv1.StatefulSet).Spec.VolumeClaimTemplates {
					volumes[c.Name] = true
				}
			}
		}
	}
	if spec.ServiceAccountName != "" && !exists["ServiceAccount/"+spec.ServiceAccountName] {
		t.Errorf("%s: ServiceAccount %s not rendered", owner, spec.ServiceAccountName)
	}
	names := map[string]bool{}
	all := allContainers(spec)
	for _, c := range all {
		where := owner + " container " + c.Name
		if names[c.Name] {
			t.Errorf("%s: duplicate container name", where)
		}
		names[c.Name] = true
		if errs := validation.IsDNS1123Label(c.Name); len(errs) > 0 {
			t.Errorf("%s: %v", where, errs)
		}
		if c.Image == "" {
			t.Errorf("%s: no image", where)
		}
		for _, p := range c.Ports {
			if p.Name != "" {
				if errs := validation.IsValidPortName(p.Name); len(errs) > 0 {
					t.Errorf("%s: port %q: %v", where, p.Name, errs)
				}
			}
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("%s: volumeMount %s has no volume", where, m.Name)
			}
			// A mount point inside a ConfigMap or Secret volume is a directory the kubelet's
			// atomic writer does not own: mount such volumes side by side.
			for _, outer := range c.VolumeMounts {
				if strings.HasPrefix(m.MountPath, strings.TrimSuffix(outer.MountPath, "/")+"/") &&
					apiDataVolumes[outer.Name] {
					t.Errorf("%s: %s is mounted inside %s (ConfigMap/Secret volume %s)", where,
						m.MountPath, outer.MountPath, outer.Name)
				}
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil && !exists["ConfigMap/"+ef.ConfigMapRef.Name] {
				t.Errorf("%s: envFrom ConfigMap %s not rendered", where, ef.ConfigMapRef.Name)
			}
			if ef.SecretRef != nil && !exists["Secret/"+ef.SecretRef.Name] {
				t.Errorf("%s: envFrom Secret %s not rendered", where, ef.SecretRef.Name)
			}
		}
		for _, e := range c.Env {
			if errs := validation.IsEnvVarName(e.Name); len(errs) > 0 {
				t.Errorf("%s: env %q: %v", where, e.Name, errs)
			}
			if e.ValueFrom == nil {
				continue
			}
			if ref := e.ValueFrom.SecretKeyRef; ref != nil {
				s, ok := find(r, "Secret", ref.Name)
				if !ok {
					t.Errorf("%s: env %s: Secret %s not rendered", where, e.Name, ref.Name)
				} else if _, ok := s.Obj.(*corev1.Secret).Data[ref.Key]; !ok && !deref2(ref.Optional) {
					t.Errorf("%s: env %s: Secret %s has no key %s", where, e.Name, ref.Name, ref.Key)
				}
			}
			if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
				cm, ok := find(r, "ConfigMap", ref.Name)
				if !ok {
					t.Errorf("%s: env %s: ConfigMap %s not rendered", where, e.Name, ref.Name)
				} else if _, ok := cm.Obj.(*corev1.ConfigMap).Data[ref.Key]; !ok {
					t.Errorf("%s: env %s: ConfigMap %s has no key %s", where, e.Name, ref.Name, ref.Key)
				}
			}
		}
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if p == nil {
				continue
			}
			var port string
			switch {
			case p.HTTPGet != nil:
				port = p.HTTPGet.Port.StrVal
			case p.TCPSocket != nil:
				port = p.TCPSocket.Port.StrVal
			}
			if port != "" && !hasPortNamed([]corev1.Container{c}, port) {
				t.Errorf("%s: probe port %q is not a port of the container", where, port)
			}
		}
		// Every $(VAR) in command and args must resolve, or the process gets it literally.
		env := envKeys(t, r, c)
		for _, a := range append(append([]string{}, c.Command...), c.Args...) {
			for _, m := range varRef.FindAllStringSubmatch(a, -1) {
				if _, ok := env[m[1]]; !ok {
					t.Errorf("%s: %q refers to $(%s), which is not in its environment", where, a, m[1])
				}
			}
		}
		// In env values the kubelet expands only variables defined before (envFrom, then the
		// earlier env entries); a patch that reorders env breaks this silently.
		defined := envKeys(t, r, corev1.Container{EnvFrom: c.EnvFrom})
		for _, e := range c.Env {
			for _, m := range varRef.FindAllStringSubmatch(e.Value, -1) {
				if _, ok := defined[m[1]]; !ok {
					t.Errorf("%s: env %s refers to $(%s), which is not defined before it", where, e.Name, m[1])
				}
			}
			defined[e.Name] = e.Value
		}
	}
}

// allContainers is a pod's init containers, then its containers.
func allContainers(spec *corev1.PodSpec) []corev1.Container {
	return append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
}

func deref2(b *bool) bool { return b != nil && *b }

func find(r *Rendered, kind, name string) (Object, bool) {
	for _, o := range r.Objects {
		if o.GVK.Kind == kind && o.Name == name {
			return o, true
		}
	}
	return Object{}, false
}

// Every container (init containers too) has CPU and memory requests and limits, requests
// no larger than limits.
func TestResourcesRequestsAndLimits(t *testing.T) {
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			for _, w := range workloads(Render(t, overlay)) {
				spec := w.Template.Spec
				for _, c := range allContainers(&spec) {
					for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
						req, okReq := c.Resources.Requests[res]
						lim, okLim := c.Resources.Limits[res]
						if !okReq || !okLim {
							t.Errorf("%s container %s: %s request and limit required", w, c.Name, res)
							continue
						}
						if req.Cmp(lim) > 0 {
							t.Errorf("%s container %s: %s request %s above limit %s", w, c.Name, res,
								req.String(), lim.String())
						}
					}
				}
			}
		})
	}
}

// Every long-running krond container serves /metrics, /healthz and /readyz on port 9100 (the
// console: on its API port 8080) and is probed there; every flag it takes from the
// environment resolves.
func TestKrondProbesAndMetrics(t *testing.T) {
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			seen := 0
			for _, w := range workloads(r) {
				for _, c := range w.Template.Spec.Containers {
					if !isKrond(c) {
						continue
					}
					seen++
					where := fmt.Sprintf("%s container %s", w, c.Name)
					if w.GVK.Kind == "Job" {
						continue // one-shot `krond topics ensure`: no admin server
					}
					// The console serves its admin endpoints beside the API, on --listen :8080.
					adminFlag, adminPort := "--metrics-addr", int32(9100)
					if len(c.Args) > 0 && c.Args[0] == "console" {
						adminFlag, adminPort = "--listen", 8080
					}
					want := fmt.Sprintf("0.0.0.0:%d", adminPort)
					if addr, _ := flag(c.Args, adminFlag); addr != want {
						t.Errorf("%s: %s %q, want %s (reachable by the kubelet and Prometheus)", where, adminFlag, addr, want)
					}
					check := func(kind string, p *corev1.Probe, path string) {
						if p == nil || p.HTTPGet == nil {
							t.Errorf("%s: no HTTP %s probe", where, kind)
							return
						}
						if p.HTTPGet.Path != path {
							t.Errorf("%s: %s probe path %q, want %q", where, kind, p.HTTPGet.Path, path)
						}
						port := p.HTTPGet.Port
						if port.IntValue() != int(adminPort) && !(port.StrVal != "" && containerPort(c, port.StrVal) == adminPort) {
							t.Errorf("%s: %s probe port %s is not %d", where, kind, port.String(), adminPort)
						}
					}
					check("liveness", c.LivenessProbe, "/healthz")
					check("readiness", c.ReadinessProbe, "/readyz")
					// krond's /healthz fails while it waits for Kafka at start: liveness must
					// wait for the first /readyz success (docs/kubernetes.md).
					check("startup", c.StartupProbe, "/readyz")
					ann := w.Template.Annotations
					if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != fmt.Sprint(adminPort) {
						t.Errorf("%s: pod annotations prometheus.io/scrape=true, prometheus.io/port=%d missing: %v", w, adminPort, ann)
					}
					if c.ImagePullPolicy == "" {
						t.Errorf("%s: imagePullPolicy not set (a :latest image would default to Always)", where)
					}
				}
			}
			if seen == 0 {
				t.Fatal("no krond container rendered")
			}
		})
	}
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// A worker drains for up to --drain-timeout on SIGTERM; the kubelet must not SIGKILL it
// before. The scheduler gives up committing after --shutdown-timeout (default 5 s), plus one
// blocking transactional call (2 s) and the producer's purge (1 s).
func TestGracefulTermination(t *testing.T) {
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			for _, w := range workloads(r) {
				for _, c := range w.Template.Spec.Containers {
					if !isKrond(c) || len(c.Args) == 0 {
						continue
					}
					var need time.Duration
					switch c.Args[0] {
					case "worker":
						// Stopping takes at most --drain-timeout + --kill-grace + --flush-timeout
						// (krond's defaults 30 s, 5 s, 5 s), then up to 3 s to leave the group.
						need = 3 * time.Second
						for _, f := range []struct {
							name string
							def  time.Duration
						}{{"--drain-timeout", 30 * time.Second}, {"--kill-grace", 5 * time.Second},
							{"--flush-timeout", 5 * time.Second}} {
							d := f.def
							if v, ok := flag(c.Args, f.name); ok {
								parsed, err := time.ParseDuration(expand(v, envKeys(t, r, c)))
								if err != nil {
									t.Errorf("%s: %s %q: %v", w, f.name, v, err)
									continue
								}
								d = parsed
							}
							need += d
						}
					case "scheduler":
						need = 5*time.Second + 3*time.Second
						if v, ok := flag(c.Args, "--shutdown-timeout"); ok {
							d, err := time.ParseDuration(expand(v, envKeys(t, r, c)))
							if err != nil {
								t.Errorf("%s: --shutdown-timeout %q: %v", w, v, err)
								continue
							}
							need = d + 3*time.Second
						}
					default:
						continue
					}
					grace := int64(30) // the API default
					if g := w.Template.Spec.TerminationGracePeriodSeconds; g != nil {
						grace = *g
					}
					if time.Duration(grace)*time.Second <= need {
						t.Errorf("%s: terminationGracePeriodSeconds %d must exceed %s", w, grace, need)
					}
				}
			}
		})
	}
}

// jobFileClusters reads the clusters of the job file shipped in the krond-jobs ConfigMap.
func jobFileClusters(t *testing.T, r *Rendered) []string {
	t.Helper()
	var jf struct {
		Clusters []string `json:"clusters"`
	}
	if err := yaml.Unmarshal([]byte(configMapData(t, r, "krond-jobs")["jobs.yaml"]), &jf); err != nil {
		t.Fatalf("jobs.yaml: %v", err)
	}
	if len(jf.Clusters) == 0 {
		t.Fatal("jobs.yaml lists no clusters")
	}
	return jf.Clusters
}

// Every cluster of the shipped job file has a worker Deployment and a retry-worker Deployment;
// each worker Deployment is covered by exactly one PodDisruptionBudget that selects no other
// workload; the scheduler runs 2 replicas (one fires, the other takes over within seconds).
func TestWorkersPDBsAndScheduler(t *testing.T) {
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			type key struct{ cluster, queue string }
			workers := map[key]Workload{}
			var schedulers []Workload
			for _, w := range workloads(r) {
				if w.GVK.Kind != "Deployment" {
					continue
				}
				for _, c := range w.Template.Spec.Containers {
					if !isKrond(c) || len(c.Args) == 0 {
						continue
					}
					switch c.Args[0] {
					case "scheduler":
						schedulers = append(schedulers, w)
					case "worker":
						cluster, _ := flag(c.Args, "--cluster")
						queue, ok := flag(c.Args, "--queue")
						if !ok {
							queue = "main"
						}
						k := key{cluster, queue}
						if prev, dup := workers[k]; dup {
							t.Errorf("%s and %s both run %v: one Deployment per cluster and queue", prev, w, k)
						}
						workers[k] = w
						if slots, _ := flag(c.Args, "--slots"); slots == "" {
							t.Errorf("%s: --slots not set", w)
						}
					}
				}
			}
			for _, cluster := range jobFileClusters(t, r) {
				for _, queue := range []string{"main", "retry"} {
					if _, ok := workers[key{cluster, queue}]; !ok {
						t.Errorf("cluster %s of jobs.yaml has no %s worker Deployment", cluster, queue)
					}
				}
			}
			if len(workers) != 2*len(jobFileClusters(t, r)) {
				t.Errorf("%d worker Deployments for clusters %v: a worker of a cluster the job file does not name", len(workers), jobFileClusters(t, r))
			}
			if len(schedulers) != 1 {
				t.Fatalf("%d scheduler Deployments, want 1", len(schedulers))
			}
			if schedulers[0].Replicas != 2 {
				t.Errorf("%s: %d replicas, want 2", schedulers[0], schedulers[0].Replicas)
			}
			pdbs := r.Kind("PodDisruptionBudget")
			for k, w := range workers {
				var covering []string
				for _, o := range pdbs {
					pdb := o.Obj.(*policyv1.PodDisruptionBudget)
					if selectorMatches(t, pdb.Spec.Selector, w.Template.Labels) {
						covering = append(covering, o.Name)
						for _, other := range workloads(r) {
							if other.String() != w.String() && selectorMatches(t, pdb.Spec.Selector, other.Template.Labels) {
								t.Errorf("%s selects %s as well as %s", o, other, w)
							}
						}
						if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
							t.Errorf("%s: neither maxUnavailable nor minAvailable", o)
						}
					}
				}
				if len(covering) != 1 {
					t.Errorf("%s (%v): covered by PodDisruptionBudgets %v, want exactly one", w, k, covering)
				}
			}
		})
	}
}

// Kafka: a StatefulSet with a volume claim for its data, a headless Service, as many quorum
// voters as replicas with node ids 0..n-1, and replication settings the cluster can meet.
// An overlay on the operator's Kafka (externalKafka) has none of it and no krond container
// that points at it (checkNoInClusterKafka).
func TestKafka(t *testing.T) {
	wantReplicas := map[string]int32{"minikube": 1, "production": 3}
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			if externalKafka[overlay] {
				checkNoInClusterKafka(t, r)
				return
			}
			ss := r.Get(t, "StatefulSet", "kafka").Obj.(*appsv1.StatefulSet)
			n := deref(ss.Spec.Replicas, 1)
			if want, ok := wantReplicas[overlay]; ok && n != want {
				t.Errorf("kafka replicas %d, want %d", n, want)
			}
			if len(ss.Spec.VolumeClaimTemplates) == 0 {
				t.Error("kafka has no volumeClaimTemplates")
			}
			headless := r.Get(t, "Service", ss.Spec.ServiceName).Obj.(*corev1.Service)
			if headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
				t.Errorf("Service %s: must be headless and publish not-ready addresses", ss.Spec.ServiceName)
			}
			env := map[string]string{}
			var kafka corev1.Container
			for _, c := range ss.Spec.Template.Spec.Containers {
				if c.Name == "kafka" {
					kafka = c
				}
			}
			for _, e := range kafka.Env {
				env[e.Name] = e.Value
			}
			voters := strings.Split(env["KAFKA_CONTROLLER_QUORUM_VOTERS"], ",")
			if int32(len(voters)) != n {
				t.Errorf("%d quorum voters for %d replicas: %v", len(voters), n, voters)
			}
			for i, v := range voters {
				want := fmt.Sprintf("%d@kafka-%d.%s", i, i, ss.Spec.ServiceName)
				if !strings.HasPrefix(v, want+".") && !strings.HasPrefix(v, want+":") {
					t.Errorf("voter %q, want %s:PORT (or a longer domain name)", v, want)
				}
			}
			atoi := func(k string) int32 {
				v, err := strconv.Atoi(env[k])
				if err != nil {
					t.Errorf("%s=%q: %v", k, env[k], err)
				}
				return int32(v)
			}
			for _, k := range []string{"KAFKA_DEFAULT_REPLICATION_FACTOR", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
				"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"} {
				if rf := atoi(k); rf > n || (n >= 3 && rf < 3) {
					t.Errorf("%s=%d with %d brokers", k, rf, n)
				}
			}
			if isr, rf := atoi("KAFKA_MIN_INSYNC_REPLICAS"), atoi("KAFKA_DEFAULT_REPLICATION_FACTOR"); isr > rf || (rf > 1 && isr >= rf) {
				t.Errorf("min.insync.replicas %d with replication factor %d: one broker down would stop acks=all producers", isr, rf)
			}
			settings := configMapData(t, r, "krond-settings")
			if rf, _ := strconv.Atoi(settings["KROND_REPLICATION_FACTOR"]); int32(rf) > n || int32(rf) < min(n, 3) {
				t.Errorf("KROND_REPLICATION_FACTOR=%d with %d brokers", rf, n)
			}
		})
	}
}

// The job file shipped in the ConfigMap is one krond accepts: `krond validate` on the exact
// bytes of the rendered ConfigMap. The binary is built by `make build` (KROND_BIN overrides).
func TestShippedJobFileValidates(t *testing.T) {
	bin := krondBin(t)
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			file := filepath.Join(t.TempDir(), "jobs.yaml")
			if err := os.WriteFile(file, []byte(configMapData(t, r, "krond-jobs")["jobs.yaml"]), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "validate", file).CombinedOutput()
			if err != nil {
				t.Fatalf("krond validate: %v\n%s", err, out)
			}
			t.Logf("krond validate: %s", strings.TrimSpace(string(out)))
		})
	}
}
