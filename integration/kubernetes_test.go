package integration

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// The parts of the manifests in docs/kubernetes.md the test checks.
type (
	k8sObject struct {
		Kind     string
		Metadata struct{ Name string }
		Spec     yaml.Node
	}
	k8sSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	k8sDeployment struct {
		Replicas int
		Strategy struct {
			RollingUpdate struct {
				MaxUnavailable int `yaml:"maxUnavailable"`
			} `yaml:"rollingUpdate"`
		}
		Selector k8sSelector
		Template struct {
			Metadata struct{ Labels map[string]string }
			Spec     struct {
				EnableServiceLinks *bool `yaml:"enableServiceLinks"`
				Grace              int   `yaml:"terminationGracePeriodSeconds"`
				Containers         []k8sContainer
				Volumes            []struct {
					Name   string
					Secret *struct {
						SecretName string `yaml:"secretName"`
					}
				}
			}
		}
	}
	k8sContainer struct {
		Ports []struct {
			Name          string
			ContainerPort int `yaml:"containerPort"`
		}
		Env []struct{ Name, Value string }
		// Liveness and Readiness are the probes.
		Liveness  k8sProbe `yaml:"livenessProbe"`
		Readiness k8sProbe `yaml:"readinessProbe"`
		Lifecycle struct {
			PreStop struct {
				Sleep struct{ Seconds int }
			} `yaml:"preStop"`
		}
		VolumeMounts []struct {
			Name      string
			MountPath string `yaml:"mountPath"`
			SubPath   string `yaml:"subPath"`
		} `yaml:"volumeMounts"`
	}
	k8sProbe struct {
		HTTPGet struct {
			Path string
			Port string
		} `yaml:"httpGet"`
	}
)

// TestKubernetesManifests parses every YAML block of docs/kubernetes.md
// and checks the Deployment against the image's config: the variables it
// sets load without an error or a warning, its probes reach /healthz and
// /readyz on the port of ops.listen, the proxy's port is listen's, the
// secrets are mounted where the config reads them, and the grace period
// covers the preStop sleep and server.shutdown_timeout. The Service and
// the PodDisruptionBudget select its pods.
func TestKubernetesManifests(t *testing.T) {
	doc, err := os.ReadFile("../docs/kubernetes.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	require.NotEmpty(t, blocks)
	objects := map[string][]k8sObject{}
	for i, b := range blocks {
		dec := yaml.NewDecoder(bytes.NewReader(b[1]))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, "YAML block %d:\n%s", i+1, b[1])
			require.NotEmpty(t, o.Kind, "YAML block %d is a manifest", i+1)
			objects[o.Kind] = append(objects[o.Kind], o)
		}
	}
	require.Len(t, objects["Deployment"], 1)
	var d k8sDeployment
	require.NoError(t, objects["Deployment"][0].Spec.Decode(&d))
	labels := d.Template.Metadata.Labels
	assert.GreaterOrEqual(t, d.Replicas, 2, "several replicas")
	assert.Zero(t, d.Strategy.RollingUpdate.MaxUnavailable, "a new pod is ready before an old one goes")
	assert.Equal(t, d.Selector.MatchLabels, labels)
	require.NotNil(t, d.Template.Spec.EnableServiceLinks)
	assert.False(t, *d.Template.Spec.EnableServiceLinks, "no SIDECAR_PORT from a Service named sidecar")
	for _, kind := range []string{"Service", "PodDisruptionBudget", "PodMonitor"} {
		require.Len(t, objects[kind], 1, kind)
		var spec struct {
			Selector yaml.Node
		}
		require.NoError(t, objects[kind][0].Spec.Decode(&spec))
		var sel k8sSelector
		require.NoError(t, spec.Selector.Decode(&sel))
		if sel.MatchLabels == nil { // a Service's selector is the labels themselves
			require.NoError(t, spec.Selector.Decode(&sel.MatchLabels))
		}
		assert.Equal(t, labels, sel.MatchLabels, "%s selects the Deployment's pods", kind)
	}

	require.Len(t, d.Template.Spec.Containers, 1)
	c := d.Template.Spec.Containers[0]
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	assert.Equal(t, "/healthz", c.Liveness.HTTPGet.Path)
	assert.Equal(t, "ops", c.Liveness.HTTPGet.Port)
	assert.Equal(t, "/readyz", c.Readiness.HTTPGet.Path)
	assert.Equal(t, "ops", c.Readiness.HTTPGet.Port)

	// The image's config with the Deployment's variables, the secrets in a
	// directory of the test's.
	secrets := t.TempDir()
	for name, v := range map[string]string{"session_secrets": cookieSecret, "header_secret": headerSecret, "redis_password": "a-redis-password"} {
		require.NoError(t, os.WriteFile(filepath.Join(secrets, name), []byte(v+"\n"), 0o600))
	}
	var mounted bool
	for _, m := range c.VolumeMounts {
		for _, v := range d.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && m.MountPath == "/run/secrets/sidecar" && m.SubPath == "" {
				mounted = true
			}
		}
	}
	assert.True(t, mounted, "a Secret volume at /run/secrets/sidecar, without subPath (so that updates arrive)")
	mapper := strings.NewReplacer("/run/secrets/sidecar/", secrets+"/")
	image, err := os.ReadFile("../deploy/container.yaml")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(mapper.Replace(string(image))), 0o600))
	var environ []string
	for _, e := range c.Env {
		environ = append(environ, e.Name+"="+mapper.Replace(e.Value))
	}
	cfg, err := config.Load(path, environ)
	require.NoError(t, err, "the image's config with the Deployment's variables")
	assert.Empty(t, cfg.Warnings())
	assert.Equal(t, config.StoreRedis, cfg.Store.Type, "the replicas share Redis")
	assert.Equal(t, config.Secret("a-redis-password"), cfg.Store.Redis.Password)
	for name, addr := range map[string]string{"http": cfg.Listen, "ops": cfg.Ops.Listen} {
		_, port, err := net.SplitHostPort(addr)
		require.NoError(t, err)
		assert.Equal(t, port, strconv.Itoa(ports[name]), "containerPort %s is the config's", name)
	}
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	assert.Positive(t, preStop, "a preStop sleep while the endpoints change")
	assert.Greater(t, time.Duration(d.Template.Spec.Grace)*time.Second, preStop+cfg.Server.ShutdownTimeout,
		"terminationGracePeriodSeconds covers the preStop sleep and server.shutdown_timeout")
}
