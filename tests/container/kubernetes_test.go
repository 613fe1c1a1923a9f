package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// examples/kubernetes is documentation (no cluster runs it here), but it
// must hang together: the claim the pod mounts exists, is mounted on the
// container's GOSHM_DIR, and the Deployment lets the old pod go before
// the new one mounts the ReadWriteOnce volume.
func TestKubernetesExampleIsConsistent(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.Root(t), "examples/kubernetes/legacy-server.yaml"))
	require.NoError(t, err)

	type object struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			AccessModes []string `yaml:"accessModes"`
			Strategy    struct {
				Type string `yaml:"type"`
			} `yaml:"strategy"`
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct {
							Name, Value string
						} `yaml:"env"`
						VolumeMounts []struct {
							Name      string `yaml:"name"`
							MountPath string `yaml:"mountPath"`
						} `yaml:"volumeMounts"`
					} `yaml:"containers"`
					Volumes []struct {
						Name                  string `yaml:"name"`
						PersistentVolumeClaim struct {
							ClaimName string `yaml:"claimName"`
						} `yaml:"persistentVolumeClaim"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	claims := map[string][]string{}
	var deployments []object
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	for {
		var o object
		if err := dec.Decode(&o); err != nil {
			require.ErrorContains(t, err, "EOF")
			break
		}
		switch o.Kind {
		case "PersistentVolumeClaim":
			claims[o.Metadata.Name] = o.Spec.AccessModes
		case "Deployment":
			deployments = append(deployments, o)
		}
	}
	require.Len(t, deployments, 1)
	d := deployments[0]
	assert.Equal(t, "Recreate", d.Spec.Strategy.Type)

	claimOf := map[string]string{} // volume name -> claim
	for _, v := range d.Spec.Template.Spec.Volumes {
		claimOf[v.Name] = v.PersistentVolumeClaim.ClaimName
	}
	require.Len(t, d.Spec.Template.Spec.Containers, 1)
	c := d.Spec.Template.Spec.Containers[0]
	var dir string
	for _, e := range c.Env {
		if e.Name == "GOSHM_DIR" {
			dir = e.Value
		}
	}
	require.NotEmpty(t, dir, "the container sets GOSHM_DIR")
	var claim string
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir {
			claim = claimOf[m.Name]
		}
	}
	require.NotEmpty(t, claim, "a claim is mounted on GOSHM_DIR %s", dir)
	require.Contains(t, claims, claim, "the claim is defined in the manifest")
	assert.Equal(t, []string{"ReadWriteOnce"}, claims[claim])

	// The same store path as the Docker example's image.
	df, err := os.ReadFile(filepath.Join(testenv.Root(t), "examples/docker/Dockerfile"))
	require.NoError(t, err)
	assert.Contains(t, string(df), "ENV GOSHM_DIR="+dir+"\n")
}
