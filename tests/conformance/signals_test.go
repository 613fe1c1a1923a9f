package conformance

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// A signal handler that makes the System V calls its thread was
// interrupted in (a SIGTERM handler that detaches, a SIGALRM handler that
// polls IPC_STAT or gives back a semaphore).  The kernel runs each call
// whole before a handler can run; goshm holds the program's signals back
// while it holds a lock of its own (capi/engine/siglock.c), or the
// handler's call would wait for its own thread for ever.  sig_reenter
// takes a timer signal every 500 us for 2 s; natively and under goshm it
// must finish, with every call answered.  goshm blocks signals only for a
// program that catches some (capi/engine/sigwatch.c): a handler installed
// with sigaction() after the first call is seen through its interposed
// sigaction(), one installed with signal() before the first call in the
// kernel's SigCgt.
//
// One installed with the rt_sigaction system call after the first call
// ("raw") is not seen.  Then the first tick that comes while the main
// loop's call holds a lock (nearly all of its time) runs a handler whose
// calls goshm refuses with EDEADLK, once said on stderr, where the
// library before waited for ever; from then on every lock blocks signals
// and the handler's calls are served.  libgoshm-go.so's Go runtime
// catches every signal, so its locks always block them: nothing refused.
func TestSignalHandlerCalls(t *testing.T) {
	prog := testenv.Artifact(t, "tests/sig_reenter")
	for _, mode := range [][]string{{"shm"}, {"sem"}, {"shm", "signal"}, {"sem", "signal"},
		{"shm", "raw"}, {"sem", "raw"}} {
		t.Run(strings.Join(mode, "+"), func(t *testing.T) {
			for _, under := range []string{"native", "goshm"} {
				o := nativeOpts(asRoot)
				argv := append([]string{prog, mode[0], "2"}, mode[1:]...)
				if under == "goshm" {
					o, argv = goshmOpts(t, asRoot, newStore(t), argv...)
				}
				o.Timeout = 30 * time.Second // it hangs without the fix
				start := time.Now()
				r := testenv.Run(t, o, argv...)
				require.Equal(t, 0, r.Code, "%s, after %v:\n%s", under, time.Since(start).Round(time.Millisecond), r)
				var loops, handled, errs, refused int
				_, err := fmt.Sscanf(r.Stdout, "loops %d handled %d errors %d refused %d",
					&loops, &handled, &errs, &refused)
				require.NoError(t, err, "%s: %s", under, r)
				assert.Positive(t, loops, "%s: the main loop ran", under)
				assert.Positive(t, handled, "%s: the handler ran", under)
				assert.Zero(t, errs, "%s: a call failed", under)
				t.Logf("%s: %s", under, r.Stdout)
				unseen := under == "goshm" && len(mode) > 1 && mode[1] == "raw" &&
					!testenv.GoBuilt(t, testenv.Lib(t))
				if !unseen {
					assert.Zero(t, refused, "%s: a call refused", under)
					assert.Empty(t, r.Stderr, under)
					continue
				}
				assert.Positive(t, refused, "the handler that goshm did not see coming")
				assert.Less(t, refused, handled, "handlers served once goshm knew")
				assert.Equal(t, "goshm: a System V call came from a signal handler (or callback) "+
					"inside another goshm call of the same thread: refused with EDEADLK; install "+
					"the handler with sigaction() (docs/DIFFERENCES.md)\n", r.Stderr)
			}
		})
	}
}
