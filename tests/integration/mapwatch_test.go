package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// shmdt of an attach that nothing unmapped or mapped over since it was
// made asks /proc nothing (capi/engine/mapwatch.c): 50 attaches and
// detaches open /proc/self/maps 0 times under either library.  With an
// unrelated munmap between each attach and its detach, every detach asks
// again (50 opens), and so does every detach of a library loaded with
// dlopen(), which the program's munmap does not reach.  Counted under
// strace.
func TestShmdtAsksProcOnlyAfterAMappingChanged(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := exec.LookPath("strace")
	require.NoError(t, err, "strace (installed by make test)")
	prog := testenv.Artifact(t, "tests/detach_loop")
	const n = 50
	libs := map[string]string{"libgoshm.so": testenv.CLib(t), "libgoshm-go.so": testenv.GoLib(t)}
	for name, lib := range libs {
		t.Run(name, func(t *testing.T) {
			cases := []struct {
				how   string
				args  []string
				pre   bool
				opens int
			}{
				{"preloaded", nil, true, 0},
				{"preloaded, a munmap between", []string{"unmap"}, true, n},
				{"dlopened", []string{"dlopen", lib}, false, n},
			}
			for _, c := range cases {
				trace := filepath.Join(t.TempDir(), "trace")
				argv := append([]string{"strace", "-f", "-qq", "-e", "trace=openat,open",
					"-o", trace, prog, "50"}, c.args...)
				o := testenv.Opts{NewIPC: true, Preload: c.pre, Lib: lib, Store: testenv.NewStore(t)}
				r := testenv.Run(t, o, argv...)
				require.Equal(t, 0, r.Code, "%s: %s", c.how, r.String())
				require.Equal(t, "50 attaches detached\n", r.Stdout, c.how)
				out, err := os.ReadFile(trace)
				require.NoError(t, err)
				assert.Equal(t, c.opens, strings.Count(string(out), `"/proc/self/maps"`), c.how)
			}
		})
	}
}
