package k8s

import (
	"net"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// externalKafka names the overlays whose krond talks to the operator's Kafka over SASL_SSL
// instead of the in-cluster PLAINTEXT one (docs/kubernetes.md, "Secure overlay").
var externalKafka = map[string]bool{"secure": true}

// Mounted is one file a container sees from a ConfigMap or Secret volume.
type Mounted struct {
	Kind, Object, Key string // where the bytes come from: the rendered object and its key
	Mode              int32  // the file's permission bits
	ReadOnly          bool   // the mount's
}

// The kubelet's mode for ConfigMap, Secret and projected files when none is given.
const defaultFileMode = 0o644

// mountedFiles maps each file path container c sees from a ConfigMap, Secret or projected
// volume to where it comes from.
func mountedFiles(t *testing.T, r *Rendered, spec *corev1.PodSpec, c corev1.Container) map[string]Mounted {
	t.Helper()
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	out := map[string]Mounted{}
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			continue // TestAPIServerRules reports it
		}
		add := func(kind, name string, items []corev1.KeyToPath, defaultMode *int32) {
			mode := int32(defaultFileMode)
			if defaultMode != nil {
				mode = *defaultMode
			}
			if len(items) == 0 {
				for _, k := range objectKeys(t, r, kind, name) {
					items = append(items, corev1.KeyToPath{Key: k, Path: k})
				}
			}
			for _, it := range items {
				fileMode := mode
				if it.Mode != nil {
					fileMode = *it.Mode
				}
				path := m.MountPath + "/" + it.Path
				if m.SubPath != "" {
					if m.SubPath != it.Path {
						continue
					}
					path = m.MountPath
				}
				out[path] = Mounted{kind, name, it.Key, fileMode, m.ReadOnly}
			}
		}
		switch {
		case v.ConfigMap != nil:
			add("ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode)
		case v.Secret != nil:
			add("Secret", v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				switch {
				case s.ConfigMap != nil:
					add("ConfigMap", s.ConfigMap.Name, s.ConfigMap.Items, v.Projected.DefaultMode)
				case s.Secret != nil:
					add("Secret", s.Secret.Name, s.Secret.Items, v.Projected.DefaultMode)
				}
			}
		}
	}
	return out
}

// objectKeys lists the keys of a rendered ConfigMap or Secret (none if it is not rendered:
// TestAPIServerRules reports that).
func objectKeys(t *testing.T, r *Rendered, kind, name string) []string {
	t.Helper()
	o, ok := find(r, kind, name)
	if !ok {
		return nil
	}
	var keys []string
	switch v := o.Obj.(type) {
	case *corev1.ConfigMap:
		for k := range v.Data {
			keys = append(keys, k)
		}
	case *corev1.Secret:
		for k := range v.Data {
			keys = append(keys, k)
		}
	}
	return keys
}

// content returns the bytes of a mounted file.
func content(t *testing.T, r *Rendered, f Mounted) string {
	t.Helper()
	o, ok := find(r, f.Kind, f.Object)
	if !ok {
		t.Fatalf("%s/%s not rendered", f.Kind, f.Object)
	}
	if cm, ok := o.Obj.(*corev1.ConfigMap); ok {
		return cm.Data[f.Key]
	}
	return string(o.Obj.(*corev1.Secret).Data[f.Key])
}

// generatedBy tells whether an object name is the generator's, with or without kustomize's
// hash suffix.
func generatedBy(name, generator string) bool {
	return name == generator ||
		strings.HasPrefix(name, generator) && hashSuffix.MatchString(name[len(generator):])
}

// properties parses a librdkafka properties file (key=value lines, # comments).
func properties(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

// brokers returns the host:port list of KROND_BROKERS.
func brokers(t *testing.T, r *Rendered) []string {
	t.Helper()
	list := configMapData(t, r, "krond-settings")["KROND_BROKERS"]
	if list == "" {
		t.Fatal("krond-settings has no KROND_BROKERS")
	}
	return strings.Split(list, ",")
}

// checkNoInClusterKafka: an overlay on the operator's Kafka renders no Kafka of its own, its
// KROND_BROKERS do not name the base's Kafka Service, and every krond container has a client
// configuration (the operator's cluster is never PLAINTEXT without authentication).
func checkNoInClusterKafka(t *testing.T, r *Rendered) {
	t.Helper()
	for _, o := range r.Objects {
		if o.Name == "kafka" || strings.HasPrefix(o.Name, "kafka-") {
			t.Errorf("%s rendered: the in-cluster Kafka should be removed", o)
		}
	}
	// Nor a way to reach it: no NetworkPolicy lets a pod talk to Kafka pods.
	for _, p := range policies(r) {
		for _, rule := range p.Spec.Egress {
			for _, peer := range rule.To {
				if s := peer.PodSelector; s != nil && s.MatchLabels["app.kubernetes.io/name"] == "kafka" {
					t.Errorf("NetworkPolicy %s: egress to the in-cluster Kafka's pods", p.Name)
				}
			}
		}
	}
	for _, b := range brokers(t, r) {
		host, port, err := net.SplitHostPort(b)
		if err != nil {
			t.Errorf("KROND_BROKERS %q: %v", b, err)
			continue
		}
		if _, err := strconv.Atoi(port); err != nil {
			t.Errorf("KROND_BROKERS %q: port: %v", b, err)
		}
		if host == "kafka" || strings.HasPrefix(host, "kafka.") || strings.Contains(host, ".kafka-headless") {
			t.Errorf("KROND_BROKERS %q is the in-cluster Kafka Service", b)
		}
	}
	for _, w := range workloads(r) {
		for _, c := range w.Template.Spec.Containers {
			if _, ok := flag(c.Args, "--kafka-config"); isKrond(c) && !ok {
				t.Errorf("%s: krond without --kafka-config", w)
			}
		}
	}
}

// egressReachesBrokers: policy p lets a pod reach every port of KROND_BROKERS at addresses
// outside the cluster (an ipBlock peer, or any peer).
func egressReachesBrokers(t *testing.T, r *Rendered, p *networkingv1.NetworkPolicy) bool {
	t.Helper()
	for _, b := range brokers(t, r) {
		_, port, _ := net.SplitHostPort(b)
		n, _ := strconv.Atoi(port)
		reached := false
		for _, rule := range p.Spec.Egress {
			to := len(rule.To) == 0
			for _, peer := range rule.To {
				to = to || peer.IPBlock != nil
			}
			allowed := len(rule.Ports) == 0
			for _, rp := range rule.Ports {
				allowed = allowed || rp.Port == nil ||
					rp.Port.Type == intstr.Int && rp.Port.IntVal == int32(n)
			}
			reached = reached || to && allowed
		}
		if !reached {
			return false
		}
	}
	return true
}

// role is the Kafka principal a krond pod connects as (the roles of `krond acls` and of
// scripts/kafka-local --secure): the topics Job creates topics as admin.
func role(w Workload) string {
	switch c := w.Template.Labels["app.kubernetes.io/component"]; c {
	case "topics":
		return "admin"
	default:
		return c
	}
}

// No krond container takes a secret from its args or environment, where `ps`, /proc and (for
// a worker) the commands it runs could read it: no Secret in env or envFrom, and no Secret's
// value in any argument or environment value.
func TestNoSecretInKrondArgsOrEnv(t *testing.T) {
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			var secrets []string
			for _, o := range r.Kind("Secret") {
				for _, v := range o.Obj.(*corev1.Secret).Data {
					if s := strings.TrimSpace(string(v)); len(s) >= 8 {
						secrets = append(secrets, s)
					}
				}
			}
			for _, w := range workloads(r) {
				for _, c := range allContainers(&w.Template.Spec) {
					if !isKrond(c) {
						continue
					}
					for _, ef := range c.EnvFrom {
						if ef.SecretRef != nil {
							t.Errorf("%s: envFrom Secret %s", w, ef.SecretRef.Name)
						}
					}
					for _, e := range c.Env {
						if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
							t.Errorf("%s: env %s from Secret %s", w, e.Name, e.ValueFrom.SecretKeyRef.Name)
						}
					}
					env := envKeys(t, r, c)
					values := append([]string{}, c.Args...)
					values = append(values, c.Command...)
					for _, v := range env {
						values = append(values, v)
					}
					for _, v := range values {
						for _, s := range secrets {
							if strings.Contains(expand(v, env), s) {
								t.Errorf("%s: a Secret's value is in its args or env (%d bytes)", w, len(s))
							}
						}
					}
				}
			}
		})
	}
}

// Only the signers (the scheduler and the console) hold the task-signing key: a worker that
// could sign could forge tasks for every worker. A signer's key is a Secret file, mounted
// read-only, readable by no one but the owner and the pod's fsGroup (the mode
// signing::LoadPrivateKey accepts), and the fsGroup is the krond user's group.
func TestTaskSigningKeyOnlyInSigners(t *testing.T) {
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			signers := 0
			for _, w := range workloads(r) {
				spec := &w.Template.Spec
				for _, c := range allContainers(spec) {
					files := mountedFiles(t, r, spec, c)
					for path, f := range files {
						if f.Kind == "Secret" && generatedBy(f.Object, "krond-task-signing-key") &&
							role(w) != "scheduler" && role(w) != "console" {
							t.Errorf("%s container %s: the task-signing key is mounted at %s", w, c.Name, path)
						}
					}
					key, ok := flag(c.Args, "--task-signing-key")
					if !ok {
						continue
					}
					signers++
					if role(w) != "scheduler" && role(w) != "console" {
						t.Errorf("%s: --task-signing-key on a %s", w, role(w))
					}
					f, ok := files[key]
					switch {
					case !ok || f.Kind != "Secret":
						t.Errorf("%s: --task-signing-key %s is not a file of a mounted Secret", w, key)
					case !f.ReadOnly:
						t.Errorf("%s: the signing key's mount is writable", w)
					default:
						checkSecretFileMode(t, w, key, f)
					}
				}
			}
			if externalKafka[overlay] && signers == 0 {
				t.Error("no krond container signs tasks")
			}
		})
	}
}

// checkSecretFileMode: a Secret file is at most 0440 (never readable by others nor writable),
// and the pod's fsGroup (10001, the krond user's group of the Dockerfile) makes it readable
// for krond, which does not run as the owner (root).
func checkSecretFileMode(t *testing.T, w Workload, path string, f Mounted) {
	t.Helper()
	if f.Mode&^0o440 != 0 {
		t.Errorf("%s: %s has mode %#o, want at most 0440", w, path, f.Mode)
	}
	sc := w.Template.Spec.SecurityContext
	if f.Mode&0o040 != 0 && (sc == nil || sc.FSGroup == nil || *sc.FSGroup != 10001) {
		t.Errorf("%s: %s is readable only through the group: the pod needs fsGroup 10001", w, path)
	}
}

// The secure overlays: every krond container connects with its own role's client properties
// (SASL over TLS, the password and the CA as mounted files of that role's Secrets, never
// inline), workers verify tasks against mounted public keys and hold no signing key, and
// every mounted Secret file is read-only and at most 0440.
func TestSecureOverlayClients(t *testing.T) {
	for _, overlay := range Overlays(t) {
		if !externalKafka[overlay] {
			continue
		}
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			checked := 0
			for _, w := range workloads(r) {
				spec := &w.Template.Spec
				for _, c := range spec.Containers {
					if !isKrond(c) {
						continue
					}
					checked++
					files := mountedFiles(t, r, spec, c)
					for path, f := range files {
						if f.Kind != "Secret" {
							continue
						}
						if !f.ReadOnly {
							t.Errorf("%s: Secret file %s on a writable mount", w, path)
						}
						checkSecretFileMode(t, w, path, f)
						if generatedBy(f.Object, "krond-kafka-") && !generatedBy(f.Object, "krond-kafka-"+role(w)) &&
							!generatedBy(f.Object, "krond-kafka-ca") {
							t.Errorf("%s: holds %s, another role's Kafka password", w, f.Object)
						}
					}
					checkClientProperties(t, r, w, c, files)
					keys, verifies := flag(c.Args, "--task-public-keys")
					if role(w) == "worker" {
						if f, ok := files[keys]; !verifies || !ok {
							t.Errorf("%s: a worker without --task-public-keys of a mounted file (%q)", w, keys)
						} else if f.Kind == "ConfigMap" && !generatedBy(f.Object, "krond-task-public-keys") {
							t.Errorf("%s: trusts the keys of %s", w, f.Object)
						}
					}
					if _, signs := flag(c.Args, "--task-signing-key"); (role(w) == "scheduler" || role(w) == "console") != signs {
						t.Errorf("%s: a %s with --task-signing-key %v", w, role(w), signs)
					}
				}
			}
			if checked == 0 {
				t.Fatal("no krond container rendered")
			}
		})
	}
}

// checkClientProperties: --kafka-config names a mounted file of the client ConfigMap, the
// role's own, for SASL_SSL with a user, a password read from a file of the role's Secret and
// a mounted CA.
func checkClientProperties(t *testing.T, r *Rendered, w Workload, c corev1.Container, files map[string]Mounted) {
	t.Helper()
	path, ok := flag(c.Args, "--kafka-config")
	if !ok {
		t.Errorf("%s: no --kafka-config", w)
		return
	}
	f, ok := files[path]
	if !ok || f.Kind != "ConfigMap" {
		t.Errorf("%s: --kafka-config %s is not a file of a mounted ConfigMap", w, path)
		return
	}
	if f.Key != role(w)+".properties" {
		t.Errorf("%s: --kafka-config is %s, want %s.properties (its own role's)", w, f.Key, role(w))
	}
	props := properties(content(t, r, f))
	if p := props["security.protocol"]; !strings.EqualFold(p, "SASL_SSL") {
		t.Errorf("%s: security.protocol %q, want SASL_SSL", w, p)
	}
	for _, k := range []string{"sasl.mechanisms", "sasl.username"} {
		if props[k] == "" {
			t.Errorf("%s: %s has no %s", w, f.Key, k)
		}
	}
	pw := props["sasl.password"]
	file, ok := strings.CutPrefix(pw, "${file:")
	file = strings.TrimSuffix(file, "}")
	if secret, mounted := files[file]; !ok || !mounted || secret.Kind != "Secret" ||
		!generatedBy(secret.Object, "krond-kafka-"+role(w)) {
		t.Errorf("%s: sasl.password must be ${file:PATH} of the mounted krond-kafka-%s Secret, got %q",
			w, role(w), pw)
	}
	if ca := props["ssl.ca.location"]; ca != "" {
		if _, ok := files[ca]; !ok {
			t.Errorf("%s: ssl.ca.location %s is not a mounted file", w, ca)
		}
	}
}
