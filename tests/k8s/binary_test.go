package k8s

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// krondBin is the binary built from this tree: KROND_BIN, default build/krond (`make build`).
func krondBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("KROND_BIN")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "build", "krond")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("krond binary %s: %v (run `make build` first, or set KROND_BIN)", bin, err)
	}
	return bin
}

var longFlag = regexp.MustCompile(`--[a-z][a-z0-9-]*`)

// Every subcommand and flag the manifests pass to krond exists in the binary built from this
// tree (its --help), so a renamed or removed flag fails here and not in a crash-looping pod.
// --ha is deprecated and does nothing (every scheduler elects a leader): manifests leave it out.
func TestKrondArgsAreKnownToTheBinary(t *testing.T) {
	bin := krondBin(t)
	help := map[string]string{}
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			for _, w := range workloads(Render(t, overlay)) {
				for _, c := range w.Template.Spec.Containers {
					if !isKrond(c) {
						continue
					}
					var sub []string
					for _, a := range c.Args {
						if strings.HasPrefix(a, "-") {
							break
						}
						sub = append(sub, a)
					}
					key := strings.Join(sub, " ")
					if _, ok := help[key]; !ok {
						out, err := exec.Command(bin, append(sub, "--help")...).CombinedOutput()
						if err != nil {
							t.Fatalf("%s: krond %s --help: %v\n%s", w, key, err, out)
						}
						help[key] = string(out)
					}
					known := map[string]bool{}
					for _, f := range longFlag.FindAllString(help[key], -1) {
						known[f] = true
					}
					for _, a := range c.Args[len(sub):] {
						if !strings.HasPrefix(a, "--") {
							continue
						}
						name, _, _ := strings.Cut(a, "=")
						if !known[name] {
							t.Errorf("%s: `krond %s` has no flag %s (%s)", w, key, name, bin)
						}
					}
					if key == "scheduler" && slices.Contains(c.Args, "--ha") {
						t.Errorf("%s: --ha is deprecated and does nothing; remove it", w)
					}
				}
			}
		})
	}
}

// minikube runs the locally built krond:latest; production pulls a pinned image from a
// registry (a tag or digest other than latest), the same for every krond container.
func TestKrondImages(t *testing.T) {
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			images := map[string]bool{}
			for _, w := range workloads(Render(t, overlay)) {
				for _, c := range w.Template.Spec.Containers {
					if isKrond(c) {
						images[c.Image] = true
						if overlay == "production" && (strings.HasSuffix(c.Image, ":latest") ||
							!strings.Contains(c.Image, "/") || !strings.ContainsAny(c.Image, ":@")) {
							t.Errorf("%s: image %q: production needs a registry image pinned by tag or digest", w, c.Image)
						}
						if overlay == "minikube" && (c.Image != "krond:latest" || c.ImagePullPolicy == "Always") {
							t.Errorf("%s: image %q pull %s: minikube runs the loaded krond:latest, never pulled", w, c.Image, c.ImagePullPolicy)
						}
					}
				}
			}
			if len(images) != 1 {
				t.Errorf("krond containers run %d different images %v: one image, the role chosen by arguments", len(images), images)
			}
		})
	}
}
