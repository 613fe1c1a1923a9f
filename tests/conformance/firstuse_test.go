package conformance

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// The first use of a store by several callers at once: every one of them
// creates it, and every call must succeed, as the kernel's always does.
// The callers that race hardest share a pid: the threads of one process,
// and the pid 1s of containers starting together on a fresh volume.
func TestFirstUseOfStore(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_first_use")

	t.Run("threads of one process", func(t *testing.T) {
		t.Parallel()
		for round := 0; round < 30; round++ {
			store := filepath.Join(t.TempDir(), "store")
			r := testenv.Run(t, testenv.Opts{Preload: true, NewIPC: true, Store: store}, prog, "8")
			require.Equal(t, 0, r.Code, "round %d, a fresh store\n%s", round, r)
			require.Equal(t, "8 calls: ok\n", r.Stdout)
		}
	})

	t.Run("pid 1 of four pid namespaces", func(t *testing.T) {
		t.Parallel()
		for round := 0; round < 20; round++ {
			store := filepath.Join(t.TempDir(), "store")
			results := make([]testenv.Result, 4)
			var wg sync.WaitGroup
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					o := testenv.Opts{Preload: true, NewIPC: true, Store: store}
					results[i] = testenv.Run(t, o, "unshare", "--pid", "--fork", "--",
						"sh", "-c", `[ $$ = 1 ] || { echo "not pid 1"; exit 3; }; exec "$0" 2`, prog)
				}()
			}
			wg.Wait()
			var failed []string
			for i, r := range results {
				if r.Code != 0 || r.Stdout != "2 calls: ok\n" {
					failed = append(failed, fmt.Sprintf("namespace %d: %s", i, r))
				}
			}
			assert.Empty(t, failed, "round %d:\n%s", round, strings.Join(failed, "\n"))
		}
	})
}
