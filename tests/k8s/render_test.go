// Package k8s checks the Kubernetes manifests of deploy/k8s without a cluster: every overlay
// is built with kustomize's own library, every rendered object is decoded strictly into the
// official Kubernetes API types (an unknown, misspelled or mistyped field fails), and the
// stack's invariants are checked (probes, resources, graceful termination, disruption budgets,
// ConfigMaps that carry the repository's files byte for byte, and `krond validate` on the job
// file they ship). See docs/kubernetes.md, "What is validated".
package k8s

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// repoRoot is the repository, two levels up from this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "deploy", "k8s", "base", "kustomization.yaml")); err != nil {
		t.Fatalf("not the krond repository (no deploy/k8s/base/kustomization.yaml): %s", root)
	}
	return root
}

// Object is one rendered Kubernetes object, decoded into its official Go type.
type Object struct {
	GVK  schema.GroupVersionKind
	Name string
	JSON []byte
	Obj  runtime.Object
}

func (o Object) String() string { return o.GVK.Kind + "/" + o.Name }

// The API groups the manifests may use. An object of any other kind is an error: add its
// group here deliberately, so that it is checked too.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme,
		rbacv1.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// strictDecoder is the API server's JSON decoder in strict mode (sigs.k8s.io/json): unknown
// fields, duplicate fields, fields spelled with another case and values of the wrong type
// are errors, as with `kubectl apply --validate=strict`.
var strictDecoder = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
	kjson.SerializerOptions{Yaml: false, Pretty: false, Strict: true})

// DecodeStrict decodes one object's JSON into its typed Go struct chosen by apiVersion/kind.
func DecodeStrict(data []byte) (runtime.Object, *schema.GroupVersionKind, error) {
	obj, gvk, err := strictDecoder.Decode(data, nil, nil)
	if err != nil {
		return nil, gvk, err
	}
	return obj, gvk, nil
}

// stageRepo copies what the manifests read (deploy/ without Kafka's fetched jars, and
// examples/) into a temporary directory, leaving out any *.env file of the working tree and
// any file beside its FILE.example (an operator's real secrets), and writes every *.env from
// its *.env.example and every overlay input from its .example, so the generators have their
// input without a secret ever being read or written to the repo.
func stageRepo(t testing.TB, root string) string {
	t.Helper()
	dst, err := os.MkdirTemp("", "krond-k8s-test-")
	if err != nil {
		t.Fatal(err)
	}
	skipDirs := map[string]bool{
		filepath.Join("deploy", "kafka", "lib"):    true,
		filepath.Join("deploy", "kafka", "target"): true,
	}
	for _, top := range []string{"deploy", "examples"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() {
				if skipDirs[rel] {
					return filepath.SkipDir
				}
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			if strings.HasSuffix(p, ".env") || !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			if _, err := os.Stat(p + ".example"); err == nil {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out := filepath.Join(dst, rel)
			overlayInput := strings.HasPrefix(filepath.ToSlash(rel), "deploy/k8s/overlays/")
			if strings.HasSuffix(p, ".env.example") || overlayInput && strings.HasSuffix(p, ".example") {
				if err := os.WriteFile(strings.TrimSuffix(out, ".example"), data, 0o600); err != nil {
					return err
				}
			}
			return os.WriteFile(out, data, 0o644)
		})
		if err != nil {
			t.Fatalf("staging %s: %v", top, err)
		}
	}
	return dst
}

// Build runs kustomize on dir (a kustomization directory) with the load restrictor off, as
// `kubectl kustomize --load-restrictor=LoadRestrictionsNone dir` does, and returns each
// rendered object as JSON.
func Build(dir string) ([][]byte, error) {
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(y)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// DecodeAll decodes every rendered object strictly; the error lists every object that fails.
func DecodeAll(docs [][]byte) ([]Object, error) {
	var objs []Object
	var problems []string
	for _, d := range docs {
		obj, gvk, err := DecodeStrict(d)
		if err != nil {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			_ = yaml.Unmarshal(d, &head)
			problems = append(problems, fmt.Sprintf("%s %s/%s: %v", head.APIVersion, head.Kind,
				head.Metadata.Name, err))
			continue
		}
		name := ""
		if m, ok := obj.(interface{ GetName() string }); ok {
			name = m.GetName()
		}
		objs = append(objs, Object{GVK: *gvk, Name: name, JSON: d, Obj: obj})
	}
	if len(problems) > 0 {
		return objs, fmt.Errorf("%d object(s) fail strict decoding:\n  %s", len(problems),
			strings.Join(problems, "\n  "))
	}
	return objs, nil
}

// Rendered is one overlay built and decoded.
type Rendered struct {
	Overlay string
	Objects []Object
}

// Get returns the object of that kind and name, or fails the test.
func (r *Rendered) Get(t testing.TB, kind, name string) Object {
	t.Helper()
	if o, ok := r.Find(kind, name); ok {
		return o
	}
	t.Fatalf("%s: no %s/%s rendered", r.Overlay, kind, name)
	return Object{}
}

var hashSuffix = regexp.MustCompile(`^-[a-z0-9]{10}$`)

// Find returns the object of that kind named name, or generated as name (with kustomize's
// content hash suffix: krond-settings-7g2f9kdm4b).
func (r *Rendered) Find(kind, name string) (Object, bool) {
	for _, o := range r.Objects {
		if o.GVK.Kind == kind && (o.Name == name ||
			strings.HasPrefix(o.Name, name) && hashSuffix.MatchString(o.Name[len(name):])) {
			return o, true
		}
	}
	return Object{}, false
}

// Kind returns every object of one kind, in output order.
func (r *Rendered) Kind(kind string) []Object {
	var out []Object
	for _, o := range r.Objects {
		if o.GVK.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

var (
	stageOnce  sync.Once
	stagedRoot string
	renderMu   sync.Mutex
	renders    = map[string]*Rendered{}
)

// staged returns the staged copy of the repository, made once per test run.
func staged(t testing.TB) string {
	t.Helper()
	stageOnce.Do(func() { stagedRoot = stageRepo(t, repoRoot(t)) })
	if stagedRoot == "" {
		t.Fatal("staging the repository failed earlier")
	}
	return stagedRoot
}

// Overlays lists deploy/k8s/overlays/*: a new overlay is checked without editing the test.
func Overlays(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot(t), "deploy", "k8s", "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) < 2 {
		t.Fatalf("expected at least the minikube and production overlays, found %v", names)
	}
	return names
}

// Render builds and strictly decodes one overlay (cached for the test run).
func Render(t testing.TB, overlay string) *Rendered {
	t.Helper()
	renderMu.Lock()
	defer renderMu.Unlock()
	if r, ok := renders[overlay]; ok {
		return r
	}
	docs, err := Build(filepath.Join(staged(t), "deploy", "k8s", "overlays", overlay))
	if err != nil {
		t.Fatalf("kustomize build of overlays/%s: %v", overlay, err)
	}
	objs, err := DecodeAll(docs)
	if err != nil {
		t.Fatalf("overlays/%s: %v", overlay, err)
	}
	r := &Rendered{Overlay: overlay, Objects: objs}
	renders[overlay] = r
	return r
}

// TestMain removes the staged copy at the end.
func TestMain(m *testing.M) {
	code := m.Run()
	if stagedRoot != "" {
		os.RemoveAll(stagedRoot)
	}
	os.Exit(code)
}
