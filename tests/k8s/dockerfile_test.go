package k8s

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// No Docker engine runs here, so the image is never built in CI. These tests check the
// Dockerfile against what the build from this tree needs instead: the build stage installs
// the -dev package of every library krond links and every tool CMake requires, and copies
// every folder the build reads; the runtime stage installs every library the binaries link
// that debian:bookworm-slim lacks. A new dependency added to CMake and scripts/setup-deps
// but not to the Dockerfile fails here, not in somebody's `docker build`.

type dockerStage struct {
	packages map[string]bool // apt-get install arguments
	copies   map[string]bool // COPY sources, without a trailing slash
}

// dockerStages parses the Dockerfile into its stages, in order.
func dockerStages(t *testing.T) []dockerStage {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Join continued lines, so one RUN is one line.
	joined := strings.ReplaceAll(string(text), "\\\n", " ")
	var stages []dockerStage
	for _, line := range strings.Split(joined, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch fields[0] {
		case "FROM":
			stages = append(stages, dockerStage{map[string]bool{}, map[string]bool{}})
		case "RUN":
			installing := false
			for _, f := range fields[1:] {
				switch {
				case f == "install":
					installing = true
				case f == "&&":
					installing = false
				case installing && !strings.HasPrefix(f, "-"):
					stages[len(stages)-1].packages[f] = true
				}
			}
		case "COPY":
			for _, f := range fields[1 : len(fields)-1] {
				if !strings.HasPrefix(f, "--") {
					stages[len(stages)-1].copies[strings.TrimSuffix(f, "/")] = true
				}
			}
		}
	}
	if len(stages) != 2 {
		t.Fatalf("Dockerfile: %d stages, expected 2 (build, runtime)", len(stages))
	}
	return stages
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

// ownerPackage is the Debian package that installed `path` (usrmerge: /lib is /usr/lib).
func ownerPackage(t *testing.T, path string) string {
	t.Helper()
	candidates := []string{path, "/usr" + path}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		candidates = append(candidates, real, strings.TrimPrefix(real, "/usr"))
	}
	for _, c := range candidates {
		if out, err := exec.Command("dpkg", "-S", c).Output(); err == nil {
			pkg, _, _ := strings.Cut(strings.TrimSpace(string(out)), ":")
			return pkg
		}
	}
	t.Fatalf("no Debian package owns %s", path)
	return ""
}

var lddLine = regexp.MustCompile(`^\s*(\S+) => (/\S+)`)

// linkedPackages maps each package whose library a krond binary names as NEEDED (its direct
// dependencies: apt brings the rest) to that library.
func linkedPackages(t *testing.T) map[string]string {
	t.Helper()
	bin := krondBin(t)
	pkgs := map[string]string{}
	// krond-guard is linked statically (it runs between fork and exec of every command).
	for _, b := range []string{bin} {
		paths := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(run(t, "ldd", b)))
		for sc.Scan() {
			if m := lddLine.FindStringSubmatch(sc.Text()); m != nil {
				paths[m[1]] = m[2]
			}
		}
		for _, m := range regexp.MustCompile(`\(NEEDED\)\s+Shared library: \[(\S+)\]`).
			FindAllStringSubmatch(run(t, "readelf", "-d", b), -1) {
			path, ok := paths[m[1]]
			if !ok {
				t.Fatalf("%s needs %s, which ldd does not resolve", b, m[1])
			}
			pkgs[ownerPackage(t, path)] = m[1]
		}
	}
	if len(pkgs) < 5 {
		t.Fatalf("only %d linked packages found: %v", len(pkgs), pkgs)
	}
	return pkgs
}

// slimImage is what debian:bookworm-slim holds, as far as this host can tell: it is the
// minbase variant, the Essential packages and apt, with everything they depend on
// (libc6, libstdc++6, libgcc-s1, ...). build-essential brings their -dev packages.
func slimImage(t *testing.T) map[string]bool {
	t.Helper()
	deps := map[string][]string{}
	var queue []string
	for _, line := range strings.Split(run(t, "dpkg-query", "-W", "-f",
		"${Package}\t${Essential}\t${Pre-Depends}, ${Depends}\n"), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			continue
		}
		for _, d := range strings.Split(f[2], ",") {
			// The first alternative, without its version and architecture.
			if name := strings.Fields(strings.Split(d, "|")[0]); len(name) > 0 {
				deps[f[0]] = append(deps[f[0]], strings.Split(name[0], ":")[0])
			}
		}
		if f[1] == "yes" || f[0] == "apt" {
			queue = append(queue, f[0])
		}
	}
	in := map[string]bool{}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if !in[p] {
			in[p] = true
			queue = append(queue, deps[p]...)
		}
	}
	if !in["libc6"] {
		t.Fatalf("the Essential packages' closure lacks libc6: %d packages", len(in))
	}
	return in
}

func TestDockerRuntimeStageInstallsEveryLinkedLibrary(t *testing.T) {
	runtime := dockerStages(t)[1]
	slim := slimImage(t)
	for pkg, lib := range linkedPackages(t) {
		if !slim[pkg] && !runtime.packages[pkg] {
			t.Errorf("krond links %s (package %s): add %s to the runtime stage's apt-get install",
				lib, pkg, pkg)
		}
	}
}

func TestDockerBuildStageInstallsEveryDevPackage(t *testing.T) {
	build := dockerStages(t)[0]
	// Installed packages by source package, to find the -dev package of a runtime library.
	bySource := map[string][]string{}
	for _, line := range strings.Split(run(t, "dpkg-query", "-W", "-f", "${Package} ${source:Package}\n"), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			bySource[f[1]] = append(bySource[f[1]], f[0])
		}
	}
	slim := slimImage(t)
	for pkg, lib := range linkedPackages(t) {
		if slim[pkg] {
			continue
		}
		source := strings.TrimSpace(run(t, "dpkg-query", "-W", "-f", "${source:Package}", pkg))
		var devs []string
		found := false
		for _, p := range bySource[source] {
			if strings.HasSuffix(p, "-dev") {
				devs = append(devs, p)
				found = found || build.packages[p]
			}
		}
		if !found {
			t.Errorf("krond links %s (package %s): add one of %v to the build stage", lib, pkg, devs)
		}
	}
}

func TestDockerBuildStageHasWhatCMakeReads(t *testing.T) {
	build := dockerStages(t)[0]
	root := repoRoot(t)
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	program := regexp.MustCompile(`find_program\(\w+ (\S+) REQUIRED\)`)
	folder := regexp.MustCompile(`\$\{PROJECT_SOURCE_DIR\}/([\w.-]+)`)
	err = filepath.Walk(filepath.Join(root, "src"), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.Name() != "CMakeLists.txt" {
			return err
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, m := range program.FindAllStringSubmatch(string(text), -1) {
			tool, err := exec.LookPath(m[1])
			if err != nil {
				t.Errorf("%s requires %s, which is not installed here", rel, m[1])
				continue
			}
			if pkg := ownerPackage(t, tool); !build.packages[pkg] {
				t.Errorf("%s requires %s (package %s): add it to the build stage", rel, m[1], pkg)
			}
		}
		for _, m := range folder.FindAllStringSubmatch(string(text), -1) {
			if !build.copies[m[1]] {
				t.Errorf("%s reads %s/: the build stage must COPY it", rel, m[1])
			}
			if !strings.Contains(string(ignore), "\n!"+m[1]+"/\n") {
				t.Errorf("%s reads %s/: .dockerignore must let it in (!%s/)", rel, m[1], m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
