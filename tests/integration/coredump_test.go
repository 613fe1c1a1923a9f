package integration

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

const coreMarker = "goshm-core-marker-5b1f"

// dumpCore runs core_self (under sh, after setting the core dump filter
// when filter is not empty) and says whether its core holds the marker it
// wrote into a segment.
func dumpCore(t *testing.T, o testenv.Opts, filter string) bool {
	t.Helper()
	prog := testenv.Artifact(t, "tests/core_self")
	dir := t.TempDir()
	script := "exec " + prog + " " + dir
	if filter != "" {
		script = "echo " + filter + " > /proc/self/coredump_filter && " + script
	}
	r := testenv.Run(t, o, "sh", "-c", script)
	require.Equal(t, 0, r.Code, r.String())
	path, ok := strings.CutPrefix(strings.TrimSpace(r.Stdout), "core=")
	require.True(t, ok, r.String())
	core, err := os.ReadFile(path)
	require.NoError(t, err, "reading the core gcore wrote")
	return bytes.Contains(core, []byte(coreMarker))
}

// The kernel dumps a System V segment into a core under the default
// coredump_filter (its file is unlinked: "anonymous shared", bit 1); a
// goshm attach is a shared mapping of a file in the store, dumped only
// with bit 3 ("file-backed shared") set, as the operators' guide says to
// do (docs/DIFFERENCES.md, docs/OPERATORS.md).  gcore follows the same
// filter as the kernel.
func TestCoreDumpHoldsSegmentWithFilter(t *testing.T) {
	testenv.RequireRoot(t)
	t.Run("native: in the core", func(t *testing.T) {
		assert.True(t, dumpCore(t, testenv.Opts{NewIPC: true}, ""))
	})
	goshm := testenv.Opts{NewIPC: true, Preload: true, Store: testenv.NewStore(t)}
	t.Run("goshm, default filter: not in the core", func(t *testing.T) {
		assert.False(t, dumpCore(t, goshm, ""))
	})
	t.Run("goshm, filter 0x3b: in the core", func(t *testing.T) {
		assert.True(t, dumpCore(t, goshm, "0x3b"))
	})
}
