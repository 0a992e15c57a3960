package k8s

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Every overlay builds, and every object in it decodes strictly into its official API type.
func TestOverlaysBuildAndDecodeStrictly(t *testing.T) {
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			counts := map[string]int{}
			for _, o := range r.Objects {
				counts[o.GVK.Kind]++
			}
			t.Logf("overlays/%s: %d objects %v", overlay, len(r.Objects), counts)
			kinds := []string{"Namespace", "Deployment", "Service", "ConfigMap", "Secret",
				"PodDisruptionBudget", "Job", "Role", "RoleBinding", "ServiceAccount"}
			if !externalKafka[overlay] {
				kinds = append(kinds, "StatefulSet") // Kafka's
			}
			for _, kind := range kinds {
				if counts[kind] == 0 {
					t.Errorf("no %s rendered", kind)
				}
			}
		})
	}
}

// The strict decoder is what catches a misspelled field: prove it on a real rendered object.
func TestStrictDecodingRejectsMisspelledFields(t *testing.T) {
	r := Render(t, "minikube")
	dep := r.Get(t, "Deployment", "krond-scheduler")
	if _, _, err := DecodeStrict(dep.JSON); err != nil {
		t.Fatalf("the unmodified object must decode: %v", err)
	}
	cases := []struct{ what, from, to, want string }{
		{"misspelled field", `"terminationGracePeriodSeconds"`, `"terminationGracePeriodSecond"`,
			`unknown field "spec.template.spec.terminationGracePeriodSecond"`},
		{"field with another case", `"replicas"`, `"Replicas"`, `unknown field "spec.Replicas"`},
		{"misspelled probe field", `"readinessProbe"`, `"readynessProbe"`, `unknown field`},
		{"wrong type", `"replicas":2`, `"replicas":"2"`, `cannot unmarshal string`},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			bad := strings.Replace(string(dep.JSON), c.from, c.to, 1)
			if bad == string(dep.JSON) {
				t.Fatalf("%s not found in the rendered object", c.from)
			}
			_, _, err := DecodeStrict([]byte(bad))
			if err == nil {
				t.Fatalf("decoding with %s accepted", c.to)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// The same through the whole pipeline: an overlay whose patch misspells a field builds (kustomize
// itself does not know the schema) but fails the strict check, naming the field.
func TestMisspelledFieldInAnOverlayFails(t *testing.T) {
	dir := filepath.Join(staged(t), "deploy", "k8s", "overlays-test", "typo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"kustomization.yaml": "resources: [../../overlays/minikube]\npatches: [{path: typo.yaml}]\n",
		"typo.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: krond-scheduler}
spec:
  template:
    spec:
      containers:
        - name: krond
          livenessProbe:
            httpGet: {path: /healthz, port: metrics}
            periodSecond: 10
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := Build(dir)
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	_, err = DecodeAll(docs)
	if err == nil {
		t.Fatal("an overlay with a misspelled field passed the strict check")
	}
	want := `Deployment/krond-scheduler: strict decoding error: unknown field "spec.template.spec.containers[0].livenessProbe.periodSecond"`
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error does not name the field:\n%v\nwant it to contain: %s", err, want)
	}
}

// Why the build turns the load restrictor off (docs/kubernetes.md): with kustomize's default,
// the base cannot read the repository's config files, which lie outside it.
func TestDefaultLoadRestrictorRefusesTheRepositoryFiles(t *testing.T) {
	opts := krusty.MakeDefaultOptions()
	_, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(),
		filepath.Join(staged(t), "deploy", "k8s", "overlays", "minikube"))
	if err == nil || !strings.Contains(err.Error(), "is not in or below") {
		t.Fatalf("expected kustomize's default load restrictor to refuse files outside the base, got %v", err)
	}
}
