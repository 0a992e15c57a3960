package k8s

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// tool returns the path of a monitoring tool that scripts/setup-deps installs.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (Debian's prometheus / prometheus-alertmanager packages; scripts/setup-deps installs them): %v", name, err)
	}
	return p
}

func podSpec(t *testing.T, r *Rendered, kind, name string) *corev1.PodSpec {
	t.Helper()
	switch v := r.Get(t, kind, name).Obj.(type) {
	case *appsv1.Deployment:
		return &v.Spec.Template.Spec
	case *appsv1.StatefulSet:
		return &v.Spec.Template.Spec
	}
	t.Fatalf("%s/%s has no pod template", kind, name)
	return nil
}

// mountOf returns the mount path of the ConfigMap named cm (generator name) in container c.
func mountOf(t *testing.T, r *Rendered, spec *corev1.PodSpec, c corev1.Container, cm string) string {
	t.Helper()
	want, ok := r.Find("ConfigMap", cm)
	if !ok {
		t.Fatalf("no ConfigMap %s", cm)
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == want.Name {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name {
					return m.MountPath
				}
			}
		}
	}
	t.Fatalf("ConfigMap %s is not mounted in container %s", cm, c.Name)
	return ""
}

func writeData(t *testing.T, dir string, data map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range data {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Prometheus' Kubernetes configuration passes `promtool check config` together with the rules
// it mounts, and loads them from where they are mounted.
func TestPrometheusConfig(t *testing.T) {
	promtool := tool(t, "promtool")
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			spec := podSpec(t, r, "Deployment", "prometheus")
			c := spec.Containers[0]
			cfgDir := mountOf(t, r, spec, c, "prometheus-config")
			rulesDir := mountOf(t, r, spec, c, "prometheus-rules")
			var cfgFile string
			for _, a := range c.Args {
				if v, ok := strings.CutPrefix(a, "--config.file="); ok {
					cfgFile = v
				}
			}
			if filepath.Dir(cfgFile) != cfgDir {
				t.Fatalf("--config.file=%s is not in the mounted prometheus-config (%s)", cfgFile, cfgDir)
			}
			cfg := configMapData(t, r, "prometheus-config")[filepath.Base(cfgFile)]
			var parsed struct {
				RuleFiles     []string         `json:"rule_files"`
				ScrapeConfigs []map[string]any `json:"scrape_configs"`
			}
			if err := yaml.Unmarshal([]byte(cfg), &parsed); err != nil {
				t.Fatal(err)
			}
			if len(parsed.RuleFiles) != 1 || filepath.Dir(parsed.RuleFiles[0]) != rulesDir {
				t.Fatalf("rule_files %v, want one pattern in %s (where prometheus-rules is mounted)", parsed.RuleFiles, rulesDir)
			}
			sd := false
			for _, s := range parsed.ScrapeConfigs {
				if _, ok := s["kubernetes_sd_configs"]; ok {
					sd = true
				}
			}
			if !sd {
				t.Error("no scrape config uses kubernetes_sd_configs")
			}
			if !canWatchPods(r, spec.ServiceAccountName) {
				t.Errorf("ServiceAccount %q is not bound to a Role that may get, list and watch pods", spec.ServiceAccountName)
			}
			// promtool on a copy whose rule_files point at a copy of the mounted rules. Debian's
			// Prometheus is built without Kubernetes service discovery, so the copy has each
			// kubernetes_sd_configs replaced by a static target after checking it strictly
			// against the fields Prometheus' Kubernetes SD accepts; promtool checks the rest
			// (relabelling, alerting, the rules themselves).
			dir := t.TempDir()
			writeData(t, filepath.Join(dir, "rules"), configMapData(t, r, "prometheus-rules"))
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil {
				t.Fatal(err)
			}
			doc["rule_files"] = []string{filepath.Join(dir, "rules", filepath.Base(parsed.RuleFiles[0]))}
			for _, s := range doc["scrape_configs"].([]any) {
				sc := s.(map[string]any)
				sds, ok := sc["kubernetes_sd_configs"]
				if !ok {
					continue
				}
				for _, sd := range sds.([]any) {
					checkKubernetesSD(t, sd)
				}
				delete(sc, "kubernetes_sd_configs")
				sc["static_configs"] = []any{map[string]any{"targets": []string{"pod:9100"}}}
			}
			local, err := yaml.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			writeData(t, dir, map[string]string{"prometheus.yml": string(local)})
			out, err := exec.Command(promtool, "check", "config", filepath.Join(dir, "prometheus.yml")).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool check config: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "SUCCESS: 1 rule files found") {
				t.Fatalf("promtool found no rules:\n%s", out)
			}
		})
	}
}

// Alertmanager's init container, run here as in the pod (the rendered ConfigMap's
// render-config and template, the rendered Secret's variables, the same arguments), produces a
// configuration that `amtool check-config` accepts.
func TestAlertmanagerConfigRenders(t *testing.T) {
	amtool := tool(t, "amtool")
	python := tool(t, "python3")
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			spec := podSpec(t, r, "Deployment", "alertmanager")
			var init corev1.Container
			for _, c := range spec.InitContainers {
				if c.Name == "render-config" {
					init = c
				}
			}
			if init.Name == "" {
				t.Fatal("no render-config init container")
			}
			tmplDir := mountOf(t, r, spec, init, "alertmanager-template")
			dir := t.TempDir()
			writeData(t, filepath.Join(dir, "template"), configMapData(t, r, "alertmanager-template"))
			var argv []string
			for _, a := range append(append([]string{}, init.Command...), init.Args...) {
				a = strings.Replace(a, tmplDir, filepath.Join(dir, "template"), 1)
				a = strings.Replace(a, "/etc/alertmanager/config", dir, 1)
				argv = append(argv, a)
			}
			if argv[0] != "python3" {
				t.Fatalf("render-config runs as %v, expected python3 ...", init.Command)
			}
			cmd := exec.Command(python, argv[1:]...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			for k, v := range envKeys(t, r, init) {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("render-config %v: %v\n%s", argv[1:], err, out)
			}
			var cfgFile string
			for _, a := range spec.Containers[0].Args {
				if v, ok := strings.CutPrefix(a, "--config.file="); ok {
					cfgFile = v
				}
			}
			rendered := filepath.Join(dir, filepath.Base(cfgFile))
			out, err := exec.Command(amtool, "check-config", rendered).CombinedOutput()
			if err != nil {
				t.Fatalf("amtool check-config: %v\n%s", err, out)
			}
		})
	}
}

// Grafana finds what the repository's provisioning files expect: dashboards where the provider
// looks for them, and the datasource's URL is a Service of the stack on a port it serves.
func TestGrafanaProvisioning(t *testing.T) {
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			spec := podSpec(t, r, "Deployment", "grafana")
			c := spec.Containers[0]
			if got := mountOf(t, r, spec, c, "grafana-datasources"); got != "/etc/grafana/provisioning/datasources" {
				t.Errorf("datasources mounted at %s", got)
			}
			if got := mountOf(t, r, spec, c, "grafana-dashboard-providers"); got != "/etc/grafana/provisioning/dashboards" {
				t.Errorf("dashboard providers mounted at %s", got)
			}
			dashboards := mountOf(t, r, spec, c, "grafana-dashboards")
			for name, text := range configMapData(t, r, "grafana-dashboard-providers") {
				var p struct {
					Providers []struct {
						Options struct {
							Path string `json:"path"`
						} `json:"options"`
					} `json:"providers"`
				}
				if err := yaml.Unmarshal([]byte(text), &p); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				for _, pr := range p.Providers {
					if pr.Options.Path != dashboards {
						t.Errorf("%s: provider path %s, but the dashboards are mounted at %s", name, pr.Options.Path, dashboards)
					}
				}
			}
			for name, text := range configMapData(t, r, "grafana-datasources") {
				var d struct {
					Datasources []struct {
						URL string `json:"url"`
					} `json:"datasources"`
				}
				if err := yaml.Unmarshal([]byte(text), &d); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				for _, ds := range d.Datasources {
					u, err := url.Parse(ds.URL)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					svc, ok := r.Find("Service", u.Hostname())
					if !ok {
						t.Errorf("%s: datasource %s: no Service %s", name, ds.URL, u.Hostname())
						continue
					}
					found := false
					for _, p := range svc.Obj.(*corev1.Service).Spec.Ports {
						found = found || p.Port == int32(atoiOr(u.Port(), 80)) // no port: http
					}
					if !found {
						t.Errorf("%s: datasource %s: Service %s has no port %s", name, ds.URL, u.Hostname(), u.Port())
					}
				}
			}
		})
	}
}

func atoiOr(s string, def int) int {
	n := 0
	for _, ch := range s {
		if ch < '0' || ch > '9' {
			return def
		}
		n = n*10 + int(ch-'0')
	}
	if s == "" {
		return def
	}
	return n
}

// kubernetesSD is the configuration of Prometheus' Kubernetes service discovery
// (discovery/kubernetes.SDConfig, Prometheus 2.x), enough to reject unknown fields.
type kubernetesSD struct {
	APIServer      string `json:"api_server,omitempty"`
	Role           string `json:"role"`
	KubeConfig     string `json:"kubeconfig_file,omitempty"`
	NamespaceDisco *struct {
		OwnNamespace bool     `json:"own_namespace,omitempty"`
		Names        []string `json:"names,omitempty"`
	} `json:"namespaces,omitempty"`
	Selectors []struct {
		Role  string `json:"role"`
		Label string `json:"label,omitempty"`
		Field string `json:"field,omitempty"`
	} `json:"selectors,omitempty"`
	AttachMetadata *struct {
		Node bool `json:"node,omitempty"`
	} `json:"attach_metadata,omitempty"`
}

func checkKubernetesSD(t *testing.T, sd any) {
	t.Helper()
	data, err := yaml.Marshal(sd)
	if err != nil {
		t.Fatal(err)
	}
	var k kubernetesSD
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Errorf("kubernetes_sd_configs: %v", err)
	}
	switch k.Role {
	case "pod", "service", "endpoints", "endpointslice", "node", "ingress":
	default:
		t.Errorf("kubernetes_sd_configs: role %q", k.Role)
	}
	if k.APIServer != "" || k.KubeConfig != "" {
		t.Error("kubernetes_sd_configs: in-cluster discovery expected (no api_server, no kubeconfig_file)")
	}
	if k.NamespaceDisco == nil || !k.NamespaceDisco.OwnNamespace {
		t.Error("kubernetes_sd_configs: namespaces.own_namespace: true expected (the Role grants this namespace only)")
	}
}

// canWatchPods tells whether a RoleBinding gives the ServiceAccount a Role with get, list and
// watch on pods (what the pod role of Kubernetes service discovery needs).
func canWatchPods(r *Rendered, sa string) bool {
	if sa == "" {
		return false
	}
	for _, o := range r.Kind("RoleBinding") {
		rb := o.Obj.(*rbacv1.RoleBinding)
		bound := false
		for _, s := range rb.Subjects {
			bound = bound || s.Kind == "ServiceAccount" && s.Name == sa
		}
		role, ok := r.Find("Role", rb.RoleRef.Name)
		if !bound || rb.RoleRef.Kind != "Role" || !ok {
			continue
		}
		for _, rule := range role.Obj.(*rbacv1.Role).Rules {
			if slices.Contains(rule.APIGroups, "") && slices.Contains(rule.Resources, "pods") &&
				slices.Contains(rule.Verbs, "get") && slices.Contains(rule.Verbs, "list") &&
				slices.Contains(rule.Verbs, "watch") {
				return true
			}
		}
	}
	return false
}
