package k8s

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
				for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
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
