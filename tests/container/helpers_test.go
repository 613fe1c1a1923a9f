package container

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

const alphabet = "a b c d e f g h i j k l m n o p q r s t u v w x y z"

// underGoshm returns the `docker run` options that put every process of a
// container under goshm (LD_PRELOAD of the default library) with its store
// in dir.  `docker exec` processes inherit the container's environment.
func underGoshm(dir string) []string { return underGoshmWith(imageLib, dir) }

// underGoshmWith is underGoshm with the library lib of the image.
func underGoshmWith(lib, dir string) []string {
	return []string{"-e", "LD_PRELOAD=" + lib, "-e", "GOSHM_DIR=" + dir}
}

// withVolume mounts volume vol on dir.
func withVolume(vol, dir string) []string { return []string{"-v", vol + ":" + dir} }

// startIdle starts a container of the test image whose main process is
// ctr_init, with `docker run` options opts, and returns its name.
func startIdle(t *testing.T, opts ...string) string {
	t.Helper()
	return testenv.StartContainer(t, append(opts, testImage(t), "ctr_init")...)
}

// dexec runs `docker exec ctr argv...`.
func dexec(t *testing.T, ctr string, argv ...string) testenv.Result {
	t.Helper()
	return dexecWith(t, nil, ctr, argv...)
}

// dexecWith runs `docker exec opts... ctr argv...`, with docker exec's own
// options such as -u 1000:1000 or -e LD_PRELOAD=.
func dexecWith(t *testing.T, opts []string, ctr string, argv ...string) testenv.Result {
	t.Helper()
	args := append(append(append([]string{"exec"}, opts...), ctr), argv...)
	return testenv.Docker(t, args...)
}

// native is the docker exec option that takes a process out from under
// the container's LD_PRELOAD (glibc ignores an empty one).
var native = []string{"-e", "LD_PRELOAD="}

// writeAlphabet runs the write-up's writer in ctr (through prefix, e.g.
// "goshm", "run", "--") and requires it to succeed.
func writeAlphabet(t *testing.T, ctr string, prefix ...string) {
	t.Helper()
	w := dexec(t, ctr, append(prefix, "systemv_shm_wr")...)
	require.Equal(t, 0, w.Code, w.String())
	require.Contains(t, w.Stdout, "SystemV Share Memory Create and Write Ok")
}

// readAlphabet runs the write-up's reader in ctr and returns its result.
func readAlphabet(t *testing.T, ctr string, prefix ...string) testenv.Result {
	t.Helper()
	return dexec(t, ctr, append(prefix, "systemv_shm_rd")...)
}

// requireAlphabet asserts that the reader found the writer's letters.
func requireAlphabet(t *testing.T, r testenv.Result) {
	t.Helper()
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, alphabet, strings.TrimSpace(strings.SplitN(r.Stdout, "\n", 2)[0]), r.String())
	require.Contains(t, r.Stdout, "SystemV Share Memory Create and Read Ok")
}

// requireLost asserts that the reader found no segment: the write-up's
// "Read Error: -1" (shmget failed).
func requireLost(t *testing.T, r testenv.Result) {
	t.Helper()
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stdout, "SystemV Share Memory Create and Read Error: -1", r.String())
}

// restart runs `docker restart`; ctr_init exits at SIGTERM, so the grace
// period is never waited out.
func restart(t *testing.T, ctr string) {
	t.Helper()
	testenv.MustDocker(t, "restart", "-t", "10", ctr)
}

// killAndWait kills ctr's processes (SIGKILL) and returns once the
// container has stopped.
func killAndWait(t *testing.T, ctr string) {
	t.Helper()
	testenv.MustDocker(t, "kill", ctr)
	testenv.MustDocker(t, "wait", ctr)
}

// eventually polls check every 50 ms until it returns nil, and fails the
// test with its last error after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inspect returns a field of `docker inspect`, e.g. "{{.State.ExitCode}}".
func inspect(t *testing.T, ctr, format string) string {
	t.Helper()
	return testenv.MustDocker(t, "inspect", "--format", format, ctr)
}
