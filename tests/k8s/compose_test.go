package k8s

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	composeloader "github.com/compose-spec/compose-go/v2/loader"
	composetypes "github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

// The third-party images are the versions docker-compose.yml runs (and, for Prometheus and
// Alertmanager, the versions of Debian's promtool and amtool that check their configuration),
// so the two deployments do not drift apart.
func TestImagesMatchDockerCompose(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image string `json:"image"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	pairs := []struct{ service, kind, name, container string }{
		{"kafka", "StatefulSet", "kafka", "kafka"},
		{"prometheus", "Deployment", "prometheus", "prometheus"},
		{"alertmanager", "Deployment", "alertmanager", "alertmanager"},
		{"alertmanager-config", "Deployment", "alertmanager", "render-config"},
		{"grafana", "Deployment", "grafana", "grafana"},
	}
	for _, overlay := range Overlays(t) {
		t.Run(overlay, func(t *testing.T) {
			r := Render(t, overlay)
			for _, p := range pairs {
				if p.service == "kafka" && externalKafka[overlay] {
					continue // no in-cluster Kafka: TestKafka checks it is absent
				}
				svc, ok := compose.Services[p.service]
				if !ok {
					if p.service == "kafka" {
						t.Errorf("docker-compose.yml has no kafka service")
					} else {
						t.Logf("docker-compose.yml has no %s service: not compared", p.service)
					}
					continue
				}
				spec := podSpec(t, r, p.kind, p.name)
				var image string
				for _, c := range allContainers(spec) {
					if c.Name == p.container {
						image = c.Image
					}
				}
				if image != svc.Image {
					t.Errorf("%s/%s container %s runs %q, docker-compose service %s %q", p.kind, p.name,
						p.container, image, p.service, svc.Image)
				}
			}
		})
	}
}

// loadCompose loads compose files as Docker Compose v2 does (compose-go: the Compose
// specification's schema, merging of later files into earlier ones, !reset and !override,
// interpolation of env), offline: no engine is needed, and none is available where this runs.
func loadCompose(t *testing.T, env map[string]string, files ...string) *composetypes.Project {
	t.Helper()
	root := repoRoot(t)
	var configs []composetypes.ConfigFile
	for _, f := range files {
		configs = append(configs, composetypes.ConfigFile{Filename: filepath.Join(root, f)})
	}
	p, err := composeloader.LoadWithContext(context.Background(), composetypes.ConfigDetails{
		WorkingDir: root, ConfigFiles: configs, Environment: env,
	}, func(o *composeloader.Options) { o.SetProjectName("krond", true) })
	if err != nil {
		t.Fatalf("compose %v: %v", files, err)
	}
	return p
}

// composeRoles maps each krond service of docker-compose.yml to its role (as role() does for
// Kubernetes).
func composeRoles(t *testing.T, p *composetypes.Project) map[string]string {
	t.Helper()
	roles := map[string]string{}
	for name, s := range p.Services {
		if s.Image != "krond:local" {
			continue
		}
		switch sub := s.Command[0]; sub {
		case "topics":
			roles[name] = "admin"
		case "scheduler", "worker", "console":
			roles[name] = sub
		default:
			t.Errorf("service %s: krond %s: which role?", name, sub)
		}
	}
	if len(roles) == 0 {
		t.Fatal("no krond service (image krond:local)")
	}
	return roles
}

// docker-compose.secure.yml over docker-compose.yml: the invariants of the Kubernetes secure
// overlay. The local PLAINTEXT Kafka is out, every krond service connects to KROND_BROKERS
// with its own role's client properties and password secret, the signing key goes to the
// scheduler and the console only, workers verify with the public keys, no secret is in a
// command or the environment, and every secret's file is git-ignored.
func TestComposeSecureOverride(t *testing.T) {
	const bootstrap = "broker-1.example.com:9093"
	base := loadCompose(t, map[string]string{}, "docker-compose.yml")
	p := loadCompose(t, map[string]string{"KROND_BROKERS": bootstrap},
		"docker-compose.yml", "docker-compose.secure.yml")
	if _, ok := p.Services["kafka"]; ok {
		t.Error("the local PLAINTEXT kafka service still starts")
	}
	roles := composeRoles(t, base)
	root := repoRoot(t)
	for name, role := range roles {
		s, ok := p.Services[name]
		if !ok {
			t.Errorf("service %s is gone", name)
			continue
		}
		for dep := range s.DependsOn {
			if _, ok := p.Services[dep]; !ok {
				t.Errorf("%s depends on %s, which does not start", name, dep)
			}
		}
		if got, _ := flag(s.Command, "--brokers"); got != bootstrap {
			t.Errorf("%s: --brokers %q, want KROND_BROKERS (%s)", name, got, bootstrap)
		}
		files := map[string]string{} // path in the container -> file on the host
		secretFiles := map[string]string{}
		for _, v := range s.Volumes {
			if v.Type == "bind" {
				files[v.Target] = v.Source
				if !v.ReadOnly {
					t.Errorf("%s: %s is mounted writable", name, v.Target)
				}
			}
		}
		for _, sec := range s.Secrets {
			src := p.Secrets[sec.Source].File
			files[sec.Target] = src
			secretFiles[sec.Target] = src
		}
		cfg, _ := flag(s.Command, "--kafka-config")
		if filepath.Base(files[cfg]) != role+".properties" {
			t.Errorf("%s: --kafka-config %s is %q, want its role's %s.properties", name, cfg, files[cfg], role)
		} else {
			data, err := os.ReadFile(files[cfg])
			if err != nil {
				t.Fatal(err)
			}
			props := properties(string(data))
			pw := strings.TrimSuffix(strings.TrimPrefix(props["sasl.password"], "${file:"), "}")
			if filepath.Base(secretFiles[pw]) != "kafka-"+role+".password" {
				t.Errorf("%s: sasl.password %q is not the secret of role %s", name, props["sasl.password"], role)
			}
			if ca := props["ssl.ca.location"]; ca != "" && secretFiles[ca] == "" {
				t.Errorf("%s: ssl.ca.location %s is not mounted", name, ca)
			}
		}
		key, signs := flag(s.Command, "--task-signing-key")
		if signs != (role == "scheduler" || role == "console") {
			t.Errorf("%s: a %s with --task-signing-key %v", name, role, signs)
		}
		if signs && filepath.Base(secretFiles[key]) != "task-signing.key" {
			t.Errorf("%s: --task-signing-key %s is not the signing key's secret", name, key)
		}
		for target, src := range secretFiles {
			if filepath.Base(src) == "task-signing.key" && !signs {
				t.Errorf("%s: the signing key is mounted at %s", name, target)
			}
		}
		if keys, ok := flag(s.Command, "--task-public-keys"); role == "worker" &&
			(!ok || filepath.Base(files[keys]) != "task-public-keys") {
			t.Errorf("%s: a worker without --task-public-keys of the trusted keys file", name)
		}
		for _, src := range secretFiles {
			for _, arg := range s.Command {
				if strings.Contains(arg, filepath.Base(src)) && !strings.HasPrefix(arg, "/etc/") {
					t.Errorf("%s: a secret's file in the command: %q", name, arg)
				}
			}
			rel, _ := filepath.Rel(root, src)
			if out, err := exec.Command("git", "-C", root, "check-ignore", "-q", "--no-index", rel).CombinedOutput(); err != nil {
				t.Errorf("secret %s is not git-ignored: %v %s", rel, err, out)
			}
			if _, err := os.Stat(src + ".example"); err != nil {
				t.Errorf("secret %s has no .example: %v", rel, err)
			}
		}
		for k := range s.Environment {
			if strings.Contains(strings.ToUpper(k), "PASSWORD") || strings.Contains(strings.ToUpper(k), "KEY") {
				t.Errorf("%s: environment %s looks like a secret", name, k)
			}
		}
	}
}
