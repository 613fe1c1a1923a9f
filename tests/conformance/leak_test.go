package conformance

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// values reads the "name = value" lines of conf_store_ops in order.
func values(stdout string) []string {
	var v []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if _, val, ok := strings.Cut(line, " = "); ok {
			v = append(v, val)
		}
	}
	return v
}

// After many cycles of shmget, shmat, shmdt, IPC_RMID in one process, the
// process has the descriptors and mappings it had before, the store's
// segments/ directory is empty and `ipcs -m` shows nothing.  The engine
// keeps one mapping for good: the registry's, made at the first call.
func TestNoLeaks(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_store_ops")
	// The first cycle maps the registry; settling lets the dormant Go
	// runtime of libgoshm-go.so finish starting its threads.
	snapshot := []string{"fds", "maps", "store-fds", "store-maps"}
	ops := []string{"settle", "200"}
	ops = append(ops, snapshot...)
	ops = append(ops, "cycles", "1", "settle", "300")
	ops = append(ops, snapshot...)
	ops = append(ops, "cycles", "500")
	ops = append(ops, snapshot...)
	ops = append(ops, "ipcs")
	argv := append([]string{prog}, ops...)

	for _, w := range []who{asRoot, asUser} {
		t.Run(w.String(), func(t *testing.T) {
			var nativeFds string
			for _, under := range []string{"native", "goshm"} {
				var r testenv.Result
				store := newStore(t)
				if under == "native" {
					r = runNative(t, w, argv...)
				} else {
					r = runGoshm(t, w, store, argv...)
				}
				require.Equal(t, 0, r.Code, r.String())
				v := values(r.Stdout)
				require.Len(t, v, 15, r.String())
				before, warm, after := v[0:4], v[5:9], v[10:14]
				assert.Equal(t, "0 failed", v[4], "%s: the first cycle\n%s", under, r)
				assert.Equal(t, "0 failed", v[9], "%s: 500 cycles\n%s", under, r)
				assert.Equal(t, before[0], after[0], "%s: descriptors before and after\n%s", under, r)
				assert.Equal(t, warm[1], after[1], "%s: mappings after the first cycle and after all\n%s", under, r)
				assert.Equal(t, "0", warm[2], "%s: descriptors on the store\n%s", under, r)
				assert.Equal(t, "0", after[2], "%s: descriptors on the store\n%s", under, r)
				assert.Equal(t, "0", v[14], "%s: segments listed by ipcs -m while the process lives\n%s", under, r)
				if under == "goshm" {
					// Loading the library opens no descriptor of its own
					// (for libgoshm-go.so: the Go runtime's cgroup files,
					// capi/main.go).
					assert.Equal(t, nativeFds, before[0], "descriptors of a preloaded program vs a native one\n%s", r)
					assert.Equal(t, "1", after[3], "goshm: mappings of the store: the registry only\n%s", r)
					assert.Empty(t, segmentFiles(t, store), "goshm: files left in segments/")
				} else {
					nativeFds = before[0]
					assert.Equal(t, "0", after[3], "native: System V mappings left\n%s", r)
				}
			}
		})
	}
}
