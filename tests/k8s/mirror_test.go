package k8s

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// Mirror is one repository file that a ConfigMap of the base carries.
type Mirror struct {
	ConfigMap string // generator name (rendered with a hash suffix unless disabled)
	Key       string // data key
	RepoPath  string // slash-separated, relative to the repository root
}

// baseMirrors reads deploy/k8s/base/kustomization.yaml and returns every configMapGenerator
// file that lies outside deploy/k8s: the repository's own config files.
func baseMirrors(t *testing.T) []Mirror {
	t.Helper()
	root := repoRoot(t)
	base := filepath.Join(root, "deploy", "k8s", "base")
	data, err := os.ReadFile(filepath.Join(base, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k types.Kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("base/kustomization.yaml: %v", err)
	}
	var out []Mirror
	for _, g := range k.ConfigMapGenerator {
		for _, src := range g.FileSources {
			key, p, found := strings.Cut(src, "=")
			if !found {
				key, p = filepath.Base(src), src
			}
			abs := filepath.Clean(filepath.Join(base, p))
			rel, err := filepath.Rel(root, abs)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Fatalf("%s: %s is outside the repository", g.Name, p)
			}
			if strings.HasPrefix(filepath.ToSlash(rel), "deploy/k8s/") {
				continue // Kubernetes' own file, not a mirror
			}
			out = append(out, Mirror{ConfigMap: g.Name, Key: key, RepoPath: filepath.ToSlash(rel)})
		}
	}
	return out
}

// requiredMirrors are the files the issue names: the job file, the alert rules, Alertmanager's
// template, Kafka's JMX exporter rules, and everything under deploy/grafana (datasource and
// dashboard provisioning, dashboards).
func requiredMirrors(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	req := []string{
		"examples/jobs.yaml",
		"deploy/prometheus/alerts.yml",
		"deploy/alertmanager/alertmanager.yml.tmpl",
		"deploy/kafka/jmx-exporter.yml",
	}
	err := filepath.WalkDir(filepath.Join(root, "deploy", "grafana"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.EqualFold(d.Name(), "README.md") {
			rel, _ := filepath.Rel(root, p)
			req = append(req, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("deploy/grafana: %v", err)
	}
	return req
}

// renderedConfigMap finds the ConfigMap a generator produced, with or without hash suffix.
func renderedConfigMap(t *testing.T, r *Rendered, generator string) *corev1.ConfigMap {
	t.Helper()
	if o, ok := r.Find("ConfigMap", generator); ok {
		return o.Obj.(*corev1.ConfigMap)
	}
	t.Fatalf("%s: no ConfigMap from generator %s", r.Overlay, generator)
	return nil
}

// The ConfigMaps carry exactly the repository's files: byte for byte, in every overlay, and
// every file the issue names is carried.
func TestConfigMapsMirrorRepositoryFiles(t *testing.T) {
	mirrors := baseMirrors(t)
	carried := map[string]bool{}
	for _, m := range mirrors {
		carried[m.RepoPath] = true
	}
	for _, p := range requiredMirrors(t) {
		if !carried[p] {
			t.Errorf("%s is not carried by a configMapGenerator of deploy/k8s/base", p)
		}
	}
	root := repoRoot(t)
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			for _, m := range mirrors {
				if externalKafka[overlay] && m.RepoPath == "deploy/kafka/jmx-exporter.yml" {
					continue // no in-cluster Kafka to export (checkNoInClusterKafka)
				}
				want, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(m.RepoPath)))
				if err != nil {
					t.Fatal(err)
				}
				cm := renderedConfigMap(t, r, m.ConfigMap)
				got, ok := cm.Data[m.Key]
				if !ok {
					if b, ok := cm.BinaryData[m.Key]; ok {
						got = string(b)
					} else {
						t.Errorf("ConfigMap %s has no key %s (%s)", cm.Name, m.Key, m.RepoPath)
						continue
					}
				}
				if got != string(want) {
					t.Errorf("ConfigMap %s key %s differs from %s (%d bytes vs %d)", cm.Name, m.Key,
						m.RepoPath, len(got), len(want))
				}
			}
			t.Logf("%d files mirrored byte for byte", len(mirrors))
		})
	}
}

// kustomizations returns dir and every kustomization directory it builds on (its resources
// that are directories), each once.
func kustomizations(t *testing.T, dir string, seen map[string]bool) map[string]*types.Kustomization {
	t.Helper()
	out := map[string]*types.Kustomization{}
	dir = filepath.Clean(dir)
	if seen[dir] {
		return out
	}
	seen[dir] = true
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k types.Kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	k.FixKustomization()
	out[dir] = &k
	for _, res := range k.Resources {
		if st, err := os.Stat(filepath.Join(dir, res)); err == nil && st.IsDir() {
			for d, kk := range kustomizations(t, filepath.Join(dir, res), seen) {
				out[d] = kk
			}
		}
	}
	return out
}

// Secrets come from git-ignored files that operators create from the FILE.example beside
// them (env files, or whole files such as a PEM key); the examples name every key and hold
// no real secret. Whatever a generator reads from a file of an overlay's secrets/ folder
// (the public keys the workers trust, too) follows the same rule.
func TestSecretsComeFromIgnoredEnvFiles(t *testing.T) {
	root := repoRoot(t)
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			dir := filepath.Join(root, "deploy", "k8s", "overlays", overlay)
			var sources []string
			for d, k := range kustomizations(t, dir, map[string]bool{}) {
				for _, g := range k.SecretGenerator {
					if len(g.LiteralSources) > 0 {
						t.Errorf("secretGenerator %s: literals are committed; use a git-ignored file", g.Name)
					}
					for _, e := range g.EnvSources {
						sources = append(sources, filepath.Join(d, e))
					}
					for _, f := range g.FileSources {
						_, p, found := strings.Cut(f, "=")
						if !found {
							p = f
						}
						sources = append(sources, filepath.Join(d, p))
					}
				}
				for _, g := range k.ConfigMapGenerator {
					for _, f := range g.FileSources {
						_, p, found := strings.Cut(f, "=")
						if !found {
							p = f
						}
						if strings.HasPrefix(filepath.ToSlash(p), "secrets/") {
							sources = append(sources, filepath.Join(d, p))
						}
					}
				}
			}
			r := Render(t, overlay)
			if len(sources) == 0 && len(r.Kind("Secret")) > 0 {
				t.Error("Secrets rendered but no secretGenerator sources")
			}
			for _, src := range sources {
				rel, _ := filepath.Rel(root, src)
				if _, err := os.Stat(src + ".example"); err != nil {
					t.Errorf("%s.example missing: operators copy it to create %s", rel, rel)
				}
				example := exec.Command("git", "check-ignore", "-q", "--no-index", rel+".example")
				example.Dir = root
				if example.Run() == nil {
					t.Errorf("%s.example is git-ignored: it could never be committed", rel)
				}
				cmd := exec.Command("git", "check-ignore", "-q", "--no-index", rel)
				cmd.Dir = root
				if err := cmd.Run(); err != nil {
					t.Errorf("%s is not git-ignored (%v): a real secret could be committed", rel, err)
				}
				tracked, _ := exec.Command("git", "-C", root, "ls-files", "--", rel).Output()
				if len(strings.TrimSpace(string(tracked))) > 0 {
					t.Errorf("%s is tracked by git", rel)
				}
			}
			for _, o := range r.Kind("Secret") {
				s := o.Obj.(*corev1.Secret)
				var keys []string
				for k, v := range s.Data {
					keys = append(keys, k)
					if len(v) == 0 {
						t.Errorf("%s: key %s is empty in the example", o, k)
					}
				}
				sort.Strings(keys)
				t.Logf("%s keys: %v", o, keys)
			}
		})
	}
}
