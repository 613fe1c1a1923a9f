package container

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// `docker stop` sends SIGTERM to the container's PID 1 (with --init, to
// docker-init, which passes it on to the server).  A server that takes it
// through a signalfd, SIGTERM blocked, must get it under goshm exactly as
// natively.  libgoshm.so starts no thread; under libgoshm-go.so the
// threads of its Go runtime must not take the signal.  If one does, its
// default action runs: a server under --init is killed (exit 143); a PID 1
// drops it (default actions of a container's init are ignored) and is
// killed after the grace period (exit 137).
func TestDockerStopReachesSignalfdServer(t *testing.T) {
	t.Parallel()
	img := testImage(t)

	for _, tc := range []struct {
		name string
		run  []string
	}{
		{"natively", []string{img, "ctr_signalfd"}},
		{"LD_PRELOAD", append(underGoshm(imageStore), img, "ctr_signalfd")},
		{"goshm run", []string{img, "goshm", "run", "--", "ctr_signalfd"}},
		{"natively under --init", []string{"--init", img, "ctr_signalfd"}},
		{"goshm run under --init", []string{"--init", img, "goshm", "run", "--", "ctr_signalfd"}},
		{"LD_PRELOAD of libgoshm-go.so", append(underGoshmWith(imageGoLib, imageStore), img, "ctr_signalfd")},
		{"goshm run --lib libgoshm-go.so", []string{img, "goshm", "run", "--lib", imageGoLib, "--", "ctr_signalfd"}},
		{"goshm run --lib libgoshm-go.so under --init",
			[]string{"--init", img, "goshm", "run", "--lib", imageGoLib, "--", "ctr_signalfd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctr := testenv.StartContainer(t, tc.run...)
			eventually(t, 30*time.Second, "ctr_signalfd is ready", func() error {
				if logs := testenv.Docker(t, "logs", ctr); !strings.Contains(logs.Stdout, "ready") {
					return fmt.Errorf("logs: %s", logs)
				}
				return nil
			})
			began := time.Now()
			testenv.MustDocker(t, "stop", "-t", "10", ctr)
			took := time.Since(began)

			assert.Equal(t, "0", inspect(t, ctr, "{{.State.ExitCode}}"), "exit code (137: SIGKILL, 143: SIGTERM)")
			logs := testenv.Docker(t, "logs", ctr)
			require.Equal(t, 0, logs.Code, logs.String())
			assert.Contains(t, logs.Stdout, "graceful shutdown 15")
			assert.Less(t, took, 10*time.Second, "docker stop waited out the grace period")
		})
	}
}

// Loading the library leaves the program's signal mask as it was.  With
// libgoshm.so, the default, PID 1 stays the one thread it is natively.
// libgoshm-go.so blocks signals only while its Go runtime creates its
// first thread, and the runtime's threads block SIGTERM and SIGCHLD, so
// that the kernel never picks one of them for a signal the program blocks.
func TestDockerPreloadSignalMasks(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, lib string }{
		{"libgoshm.so", imageLib},
		{"libgoshm-go.so", imageGoLib},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctr := startIdle(t, underGoshmWith(c.lib, imageStore)...)

			status := []string{"cat", "/proc/self/status"}
			assert.Equal(t, "0000000000000000", sigBlk(t, dexecWith(t, native, ctr, status...)))
			assert.Equal(t, "0000000000000000", sigBlk(t, dexec(t, ctr, status...)))

			// ctr_init, PID 1, preloaded: its main thread blocks
			// nothing, every other thread (the Go runtime's) blocks
			// SIGTERM.
			tasks := dexecWith(t, native, ctr, "ls", "/proc/1/task")
			require.Equal(t, 0, tasks.Code, tasks.String())
			ids := strings.Fields(tasks.Stdout)
			if c.lib == imageLib {
				assert.Equal(t, []string{"1"}, ids, "threads of PID 1 under libgoshm.so")
			} else {
				require.Greater(t, len(ids), 1, "libgoshm-go.so brings threads: %s", tasks)
			}
			for _, id := range ids {
				m := sigBlk(t, dexecWith(t, native, ctr, "cat", "/proc/1/task/"+id+"/status"))
				if id == "1" {
					assert.Equal(t, "0000000000000000", m, "main thread")
					continue
				}
				v, err := strconv.ParseUint(m, 16, 64)
				require.NoError(t, err)
				assert.NotZero(t, v&(1<<(15-1)), "thread %s does not block SIGTERM: %s", id, m)
				assert.NotZero(t, v&(1<<(17-1)), "thread %s does not block SIGCHLD: %s", id, m)
			}
		})
	}
}

// sigBlk returns the SigBlk field of a /proc status file printed by r.
func sigBlk(t *testing.T, r testenv.Result) string {
	t.Helper()
	require.Equal(t, 0, r.Code, r.String())
	for _, l := range strings.Split(r.Stdout, "\n") {
		if v, ok := strings.CutPrefix(l, "SigBlk:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no SigBlk in %s", r)
	return ""
}
