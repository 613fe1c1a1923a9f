package realprog

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

var stressArgs = []string{"stress-ng", "--shm-sysv", "2", "--timeout", "10s", "--metrics-brief"}

// stress-ng's System V stressor: per instance a forked child creates
// segments with IPC_CREAT|IPC_EXCL and random keys (and huge page flags),
// attaches, touches and checks every page, locks, stats, IPC_INFO and
// SHM_INFO, attaches with SHM_RDONLY, SHM_EXEC, SHM_RND, SHM_REMAP, at
// freed and at invalid addresses, forks a child that detaches everything
// twice, and calls shmget/shmctl with invalid flags, sizes, commands and
// ids.  Under goshm it must run clean and leave nothing behind -- but what
// stress-ng itself leaves (strayLeftovers).
func TestStressNGShmSysv(t *testing.T) {
	testenv.RequireRoot(t)
	version := strings.TrimSpace(mustRun(t, 30*time.Second, "stress-ng", "--version").Stdout)
	t.Logf("ran %s", version)

	store := testenv.NewStore(t)
	ns := newIPCNS(t)
	under := testenv.Run(t, testenv.Opts{Dir: workDir(t), Timeout: 2 * time.Minute},
		cat(ns.enter(), shimEnv(t, store), stressArgs)...)
	require.Equal(t, 0, under.Code, under.String())
	out := under.Stdout + under.Stderr
	assert.Contains(t, out, "successful run completed")
	assert.NotRegexp(t, `(?i)fail|error`, out)
	goshmOps := bogoOps(t, out)

	st, r := goshmStat(t, ns.enter(), store, "all")
	strays := strayLeftovers(st)
	assert.Len(t, strays, len(st), "segments left in the store that stress-ng did not leave itself\n%s", r)
	if len(strays) > 0 {
		t.Logf("stress-ng left %d segments of its own (a random key of 0): %+v", len(strays), strays)
	}
	assert.Contains(t, r.Stdout, "used="+strconv.Itoa(len(st)), r.String())
	data, other := storeFiles(t, store)
	assert.Len(t, data, len(strays), "data files left in the store: only the strays'")
	assert.Empty(t, other, "files left in the store")
	assert.Empty(t, ipcs(t, ns.enter()), "segments left in the kernel")

	native := testenv.Run(t, testenv.Opts{NewIPC: true, Dir: workDir(t), Timeout: 2 * time.Minute},
		stressArgs...)
	require.Equal(t, 0, native.Code, native.String())
	nativeOps := bogoOps(t, native.Stdout+native.Stderr)
	t.Logf("stress-ng --shm-sysv 2 for 10 s: %d bogo ops under goshm, %d natively (%.2f of native)",
		goshmOps, nativeOps, float64(goshmOps)/float64(nativeOps))
	t.Logf("under goshm:\n%s", metrics(out))
	t.Logf("natively:\n%s", metrics(native.Stdout+native.Stderr))
}

// strayLeftovers are the segments of st that stress-ng 0.15 leaves itself,
// under goshm as in the kernel: its exercise_shmget() draws a random
// 16-bit key, and when it draws 0 (IPC_PRIVATE) its probes for EEXIST
// and EINVAL -- shmget(key, sz, IPC_CREAT|IPC_EXCL), shmget(key, sz +
// 1 MiB, IPC_CREAT), shmget(key, sz, IPC_EXCL) -- each make a new private
// segment of mode 0, which it removes only if errno happened to be 0.
// Such a segment is private, of mode 0, and was never attached.
func strayLeftovers(st []shmStat) []shmStat {
	var out []shmStat
	for _, s := range st {
		if s.key == 0 && s.mode == 0 && s.nattch == 0 && s.lpid == 0 {
			out = append(out, s)
		}
	}
	return out
}

// bogoOps reads the shm-sysv line of --metrics-brief.
func bogoOps(t *testing.T, out string) int {
	t.Helper()
	m := regexp.MustCompile(`metrc: \[\d+\] shm-sysv\s+(\d+)\s`).FindStringSubmatch(out)
	require.NotNil(t, m, "no metrics in:\n%s", out)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}

func metrics(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "per shm") {
			lines = append(lines, strings.TrimSpace(l[strings.Index(l, "]")+1:]))
		}
	}
	return strings.Join(lines, "\n")
}

// The calls stress-ng's stressor makes, replayed one by one by
// real_stressng_calls: every result must be the kernel's.
func TestStressNGCallsMatchKernel(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/real_stressng_calls")
	native := testenv.Run(t, testenv.Opts{NewIPC: true}, prog)
	require.Equal(t, 0, native.Code, native.String())
	under := testenv.Run(t, testenv.Opts{NewIPC: true, Preload: true, Store: testenv.NewStore(t)}, prog)
	require.Equal(t, 0, under.Code, under.String())
	assert.Empty(t, under.Stderr)
	assert.Equal(t, strings.Split(native.Stdout, "\n"), strings.Split(under.Stdout, "\n"))
	assert.Greater(t, strings.Count(native.Stdout, "\n"), 150)
}
