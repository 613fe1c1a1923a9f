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
	for _, tool := range []string{"gcc", "unshare", "setpriv", "losetup", "mkfs.ext4", "valgrind",
		"/usr/lib/postgresql/15/bin/pgbench"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "the benchmark needs %s (gcc, util-linux, e2fsprogs, valgrind, postgresql-15)", tool)
	}
	root := testenv.Root(t)

	cmd := exec.Command(filepath.Join(root, "scripts", "bench.sh"))
	cmd.Env = append(os.Environ(),
		"GOSHM_BENCH_QUICK=1",
		"GOSHM_BENCH_CALLGRIND=1",
		"GOSHM_BENCH_LIB="+testenv.CLib(t),
		"GOSHM_BENCH_GO_LIB="+testenv.GoLib(t),
		"GOSHM_BENCH_BIN="+t.TempDir(), // not build/bench: others may be running make bench
		"TMPDIR="+reachableTempDir(t))
	out, err := cmd.CombinedOutput()
	report := string(out)
	require.NoError(t, err, "scripts/bench.sh:\n%s", report)

	const (
		duration = `\d+(\.\d+)? (ns|us|ms|s)`
		size     = `\d+(\.\d+)? (B|KiB|MiB)`
		ratio    = `\d+\.\d\dx`
		count    = `\d+`
	)
	// Native (or plain), libgoshm.so, libgoshm-go.so, then the ratios of
	// the two libraries to the first.
	three := func(value string) string {
		return value + ` +` + value + ` +` + value + ` +` + ratio + ` +` + ratio
	}
	rows := map[string]string{
		"shmget of an existing key":                     three(duration),
		"shm_open + mmap + munmap + close, 4 KiB":       three(duration),
		"shm_open(O_CREAT|O_EXCL) + close + shm_unlink": three(duration),
		"shmget(IPC_PRIVATE, 4 KiB) + IPC_RMID":         three(duration),
		"create + IPC_RMID, store on journaled ext4":    three(duration),
		"shmat + shmdt, 4 KiB segment":                  three(duration),
		"shmat + shmdt, 4 KiB, another attach held":     three(duration),
		"shmat + shmdt, 64 MiB segment":                 three(duration),
		"shmctl(IPC_STAT), attached once":               three(duration),
		"memset of 64 MiB through an attach":            three(duration),
		"create, attach, fault in 64 MiB, destroy":      three(duration),
		"fork + _exit + wait, no attach":                three(duration),
		"fork + _exit + wait, 4 attaches of 1 MiB":      three(duration),
		"attach + write + detach":                       three(duration),
		"bogo ops/s (higher is better)":                 three(`\d+(\.\d+)?`),
		"threads":                                       three(count),
		"VmRSS":                                         three(size),
		"Pss":                                           three(size),
		"Private_Dirty":                                 three(size),
		"/bin/true, fork to exit (median of 3)":         three(duration),
		"page faults per fork, parent (3 forks)":        three(`\d+\.\d`),
		"page faults per fork, child":                   three(`\d+\.\d`),
		"a new connection per transaction (-C)":         three(count),
		"persistent connections":                        three(count),
		"counter only":                                  size + ` +` + size,
		"segment initialised (memset), then counter":    size + ` +` + size,
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

// reachableTempDir is a temporary directory that every user may enter:
// the benchmark's PostgreSQL servers run as the postgres account.
func reachableTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "goshm-bench-smoke-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}
