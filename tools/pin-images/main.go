// pin-images pins every image of a kustomize overlay by digest: it renders the overlay, asks
// each image's registry for the digest of the tag the overlay names, and writes the digest
// into the overlay's `images:` list (keeping the tag beside it, so people and the next run
// still see which tag it was). `--check` only verifies that every image is pinned: a release
// gate. See docs/kubernetes.md, "Hardening".
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"sigs.k8s.io/kustomize/api/krusty"
	image "sigs.k8s.io/kustomize/api/pkg/util"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// mirrors maps a registry (as go-containerregistry names it, e.g. index.docker.io) to the
// host that serves its repositories instead: a pull-through cache, or a test's registry.
type mirrors map[string]string

func (m mirrors) String() string { return fmt.Sprint(map[string]string(m)) }

func (m mirrors) Set(v string) error {
	from, to, ok := strings.Cut(v, "=")
	if !ok || from == "" || to == "" {
		return fmt.Errorf("%q: want REGISTRY=HOST, e.g. docker.io=mirror.internal:5000", v)
	}
	reg, err := name.NewRegistry(from)
	if err != nil {
		return err
	}
	m[reg.RegistryStr()] = to
	return nil
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is the command with its arguments; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("pin-images", flag.ContinueOnError)
	flags.SetOutput(stderr)
	overlay := flags.String("overlay", "deploy/k8s/overlays/production", "kustomization directory to pin")
	check := flags.Bool("check", false, "only check that every image is pinned by digest; exit 1 if not")
	insecure := flags.Bool("insecure", false, "talk plain HTTP to the registries (a local test registry)")
	m := mirrors{}
	flags.Var(m, "mirror", "REGISTRY=HOST: resolve REGISTRY's images at HOST (repeatable)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "pin-images:", err)
		return 1
	}
	images, err := Images(*overlay)
	if err != nil {
		return fail(err)
	}
	if *check {
		unpinned := Unpinned(images)
		for _, img := range unpinned {
			fmt.Fprintf(stderr, "%s: image %s is not pinned by digest (run scripts/pin-images)\n", *overlay, img)
		}
		if len(unpinned) > 0 {
			return 1
		}
		fmt.Fprintf(stdout, "%s: all %d images pinned by digest\n", *overlay, len(images))
		return 0
	}
	pins := map[string]Pin{}
	for _, img := range Unpinned(images) {
		digest, err := Resolve(img, m, *insecure)
		if err != nil {
			return fail(err)
		}
		repo, tag, _ := image.SplitImageName(img)
		if old, dup := pins[repo]; dup && old.Tag != tag {
			return fail(fmt.Errorf("%s is used with two tags (%s, %s): one images: entry cannot pin both", repo, old.Tag, tag))
		}
		pins[repo] = Pin{Tag: tag, Digest: digest}
		fmt.Fprintf(stdout, "pinned %s -> %s\n", img, digest)
	}
	if err := Write(filepath.Join(*overlay, "kustomization.yaml"), pins); err != nil {
		return fail(err)
	}
	return 0
}

// Images renders the overlay and returns every container and init container image, sorted
// and without repeats.
func Images(overlay string) ([]string, error) {
	examples, _ := filepath.Glob(filepath.Join(overlay, "*.env.example"))
	for _, example := range examples {
		env := strings.TrimSuffix(example, ".example")
		if _, err := os.Stat(env); err != nil {
			return nil, fmt.Errorf("%s is missing: the overlay renders only with its secrets (copy %s and fill it in)", env, filepath.Base(example))
		}
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone
	res, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), overlay)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", overlay, err)
	}
	seen := map[string]bool{}
	for _, r := range res.Resources() {
		obj, err := r.Map()
		if err != nil {
			return nil, err
		}
		collect(obj, seen)
	}
	out := make([]string, 0, len(seen))
	for img := range seen {
		out = append(out, img)
	}
	sort.Strings(out)
	return out, nil
}

// collect finds the image of every entry of a containers or initContainers list, at any
// depth, so every workload kind (and CronJob's nested template) is covered.
func collect(v interface{}, seen map[string]bool) {
	switch v := v.(type) {
	case map[string]interface{}:
		for k, child := range v {
			if list, ok := child.([]interface{}); ok && (k == "containers" || k == "initContainers") {
				for _, c := range list {
					if c, ok := c.(map[string]interface{}); ok {
						if img, ok := c["image"].(string); ok {
							seen[img] = true
						}
					}
				}
			}
			collect(child, seen)
		}
	case []interface{}:
		for _, child := range v {
			collect(child, seen)
		}
	}
}

// Unpinned returns the images without a sha256 digest.
func Unpinned(images []string) []string {
	var out []string
	for _, img := range images {
		if _, _, digest := image.SplitImageName(img); !strings.HasPrefix(digest, "sha256:") {
			out = append(out, img)
		}
	}
	return out
}

// Resolve asks the image's registry (or its mirror) for the digest of its tag: the digest of
// the manifest list when the image is multi-platform, which is what a pin must name.
func Resolve(img string, m mirrors, insecure bool) (string, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(img, opts...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", img, err)
	}
	if host, ok := m[ref.Context().RegistryStr()]; ok {
		mirrored := host + "/" + ref.Context().RepositoryStr() + ":" + ref.Identifier()
		if ref, err = name.ParseReference(mirrored, opts...); err != nil {
			return "", fmt.Errorf("%s (mirrored as %s): %w", img, mirrored, err)
		}
	}
	desc, err := remote.Head(ref)
	if err != nil {
		return "", fmt.Errorf("%s: asking %s for its digest: %w", img, ref.Context().RegistryStr(), err)
	}
	return desc.Digest.String(), nil
}

// Pin is the tag an image was resolved from and the digest it names.
type Pin struct{ Tag, Digest string }

// Write records the pins in the kustomization's images: list, keyed by the repository as the
// rendered overlay spells it: an entry that renames an image (newName) pins its new name,
// any other entry its name; an image without an entry gets one. Comments are kept.
func Write(path string, pins map[string]Pin) error {
	rn, err := kyaml.ReadFile(path)
	if err != nil {
		return err
	}
	list, err := rn.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, "images"))
	if err != nil {
		return err
	}
	entries, err := list.Elements()
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, e := range entries {
		repo, _ := e.GetString("newName")
		if repo == "" {
			repo, _ = e.GetString("name")
		}
		if pin, ok := pins[repo]; ok {
			if err := setPin(e, pin); err != nil {
				return err
			}
			done[repo] = true
		}
	}
	repos := make([]string, 0, len(pins))
	for repo := range pins {
		repos = append(repos, repo)
	}
	sort.Strings(repos)
	for _, repo := range repos {
		if done[repo] {
			continue
		}
		e := kyaml.NewMapRNode(&map[string]string{"name": repo})
		if err := setPin(e, pins[repo]); err != nil {
			return err
		}
		if err := list.PipeE(kyaml.Append(e.YNode())); err != nil {
			return err
		}
	}
	return kyaml.WriteFile(rn, path)
}

func setPin(e *kyaml.RNode, pin Pin) error {
	if pin.Tag != "" {
		if err := e.PipeE(kyaml.SetField("newTag", kyaml.NewStringRNode(pin.Tag))); err != nil {
			return err
		}
	}
	return e.PipeE(kyaml.SetField("digest", kyaml.NewStringRNode(pin.Digest)))
}
