package main

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	image "sigs.k8s.io/kustomize/api/pkg/util"
)

// stage copies the repository's deploy/ and examples/ (what the overlays read) into a
// temporary directory, with each .env.example also as the .env the overlay generates
// secrets from, and returns the copy's production overlay.
func stage(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	// Kafka's jars are what the overlays never read, and most of the bytes.
	copyTree := exec.Command("sh", "-c", `tar -C "$1" -cf - --exclude=deploy/kafka/lib `+
		`--exclude=deploy/kafka/target --exclude='*.env' deploy examples | tar -C "$2" -xf -`,
		"sh", root, dst)
	if out, err := copyTree.CombinedOutput(); err != nil {
		t.Fatalf("copying deploy/ and examples/: %v\n%s", err, out)
	}
	examples, _ := filepath.Glob(filepath.Join(dst, "deploy", "k8s", "overlays", "*", "*.env.example"))
	for _, example := range examples {
		data, err := os.ReadFile(example)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(strings.TrimSuffix(example, ".example"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dst, "deploy", "k8s", "overlays", "production")
}

// The production overlay as shipped names tags; pinned through a registry that serves every
// image it uses, each image ends up name:tag@digest with the digest the registry serves, and
// --check tells the two apart.
func TestPinsEveryImageOfTheProductionOverlay(t *testing.T) {
	overlay := stage(t)
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")

	var stdout, stderr bytes.Buffer
	if code := run([]string{"--overlay", overlay, "--check"}, &stdout, &stderr); code != 1 {
		t.Fatalf("--check on the unpinned overlay: exit %d, want 1\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "prom/prometheus:") {
		t.Errorf("--check should name each unpinned image:\n%s", stderr.String())
	}

	before, err := Images(overlay)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) < 5 {
		t.Fatalf("the production overlay renders %d images: %v", len(before), before)
	}
	// Serve each image under the test registry, as a mirror of the registry it names.
	want := map[string]string{} // repository -> digest
	mirrorFlags := []string{}
	mirrored := map[string]bool{}
	for _, img := range before {
		ref, err := name.ParseReference(img)
		if err != nil {
			t.Fatal(err)
		}
		if !mirrored[ref.Context().RegistryStr()] {
			mirrored[ref.Context().RegistryStr()] = true
			mirrorFlags = append(mirrorFlags, "--mirror", ref.Context().RegistryStr()+"="+host)
		}
		random, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		at, err := name.ParseReference(host+"/"+ref.Context().RepositoryStr()+":"+ref.Identifier(), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(at, random); err != nil {
			t.Fatal(err)
		}
		digest, err := random.Digest()
		if err != nil {
			t.Fatal(err)
		}
		repo, _, _ := image.SplitImageName(img)
		want[repo] = digest.String()
	}

	stdout.Reset()
	stderr.Reset()
	args := append([]string{"--overlay", overlay, "--insecure"}, mirrorFlags...)
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("pin: exit %d\n%s", code, stderr.String())
	}
	after, err := Images(overlay)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("pinned %d images, the overlay had %d: %v", len(after), len(before), after)
	}
	for i, img := range after {
		repo, tag, digest := image.SplitImageName(img)
		_, wantTag, _ := image.SplitImageName(before[i])
		if digest != want[repo] || tag != wantTag {
			t.Errorf("%s: want %s:%s@%s", img, repo, wantTag, want[repo])
		}
	}
	kustomization, err := os.ReadFile(filepath.Join(overlay, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(kustomization), "# The image built from the repository's Dockerfile") {
		t.Errorf("the overlay's comments were lost:\n%s", kustomization)
	}

	stdout.Reset()
	if code := run([]string{"--overlay", overlay, "--check"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--check after pinning: exit %d\n%s", code, stderr.String())
	}
	// A second run finds nothing left to pin and changes nothing.
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("second pin: exit %d\n%s", code, stderr.String())
	}
	again, _ := os.ReadFile(filepath.Join(overlay, "kustomization.yaml"))
	if !bytes.Equal(again, kustomization) {
		t.Errorf("a second run rewrote the overlay:\n%s", again)
	}
}

// A tag the registry does not have is an error naming the image; nothing is written.
func TestAnUnknownTagIsAnErrorAndWritesNothing(t *testing.T) {
	overlay := stage(t)
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	before, _ := os.ReadFile(filepath.Join(overlay, "kustomization.yaml"))
	var stdout, stderr bytes.Buffer
	code := run([]string{"--overlay", overlay, "--insecure", "--mirror", "docker.io=" + host,
		"--mirror", "registry.example.com=" + host}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "asking") {
		t.Fatalf("exit %d, stderr %q: want 1 and the image named", code, stderr.String())
	}
	after, _ := os.ReadFile(filepath.Join(overlay, "kustomization.yaml"))
	if !bytes.Equal(before, after) {
		t.Error("the overlay was rewritten although an image could not be resolved")
	}
}
