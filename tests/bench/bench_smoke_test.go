// Package benchtest keeps goshm's benchmarks working.  The benchmarks
// (bench/*.c, run by scripts/bench.sh as `make bench`) measure; they are not
// part of the tests.  This smoke test runs the whole script with one
// iteration of everything and checks that every row of the report is there
// with numbers in it.  It asserts nothing about speed.
package benchtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

func TestBenchScriptRunsEveryBenchmark(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tool := range []string{"gcc", "unshare", "losetup", "mkfs.ext4", "valgrind"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "the benchmark needs %s (gcc, util-linux, e2fsprogs, valgrind)", tool)
	}
	root := testenv.Root(t)
	lib := testenv.Lib(t)

	cmd := exec.Command(filepath.Join(root, "scripts", "bench.sh"))
	cmd.Env = append(os.Environ(),
		"GOSHM_BENCH_QUICK=1",
		"GOSHM_BENCH_CALLGRIND=1",
		"GOSHM_BENCH_LIB="+lib,
		"GOSHM_BENCH_BIN="+t.TempDir(), // not build/bench: others may be running make bench
		"TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	report := string(out)
	require.NoError(t, err, "scripts/bench.sh:\n%s", report)

	const (
		duration = `\d+(\.\d+)? (ns|us|ms|s)`
		size     = `\d+(\.\d+)? (B|KiB|MiB)`
		ratio    = `\d+\.\d\dx`
	)
	rows := map[string]string{
		"shmget of an existing key":                duration + ` +` + duration + ` +` + ratio,
		"shmget(IPC_PRIVATE, 4 KiB) + IPC_RMID":    duration + ` +` + duration + ` +` + ratio,
		"shmat + shmdt, 4 KiB segment":             duration + ` +` + duration + ` +` + ratio,
		"shmat + shmdt, 64 MiB segment":            duration + ` +` + duration + ` +` + ratio,
		"shmctl(IPC_STAT), attached once":          duration + ` +` + duration + ` +` + ratio,
		"memset of 64 MiB through an attach":       duration + ` +` + duration + ` +` + ratio,
		"create, attach, fault in 64 MiB, destroy": duration + ` +` + duration + ` +` + ratio,
		"fork + _exit + wait, no attach":           duration + ` +` + duration + ` +` + ratio,
		"fork + _exit + wait, 4 attaches of 1 MiB": duration + ` +` + duration + ` +` + ratio,
		"threads":                               `\d+ +\d+ +\+-?\d+`,
		"VmRSS":                                 size + ` +` + size + ` +\+-?` + size,
		"Private_Dirty":                         size + ` +` + size + ` +\+-?` + size,
		"/bin/true, fork to exit (median of 3)": duration + ` +` + duration + ` +` + ratio,
		"counter only":                          size + ` +` + size,
		"segment initialised (memset), then counter": size + ` +` + size,
	}
	for label, values := range rows {
		re := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(label) + ` +` + values + ` *$`)
		assert.Regexp(t, re, report, "row %q", label)
	}
	// The callgrind section: instruction counts, one row per call, after
	// its own heading (the labels repeat those of the timing section).
	_, cg, found := strings.Cut(report, "User-space instructions per call")
	require.True(t, found, "callgrind section missing:\n%s", report)
	for _, label := range []string{"shmget of an existing key", "shmctl(IPC_STAT), attached once"} {
		re := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(label) + ` +\d+ +\d+ +(` + ratio + `|-)$`)
		assert.Regexp(t, re, cg, "callgrind row %q", label)
	}
	assert.Contains(t, report, "counter increments per second: native ")
}
