package integration

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
	for name, lib := range libraries(t) {
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

// An attach of a segment the process holds attached already is a
// duplicate of the held attach's mapping, with no open of the data file
// (capi/engine/shmat.c map_twin): 50 attaches and detaches while holding
// one open it twice in all, at its creation and for the held attach.
// Once the program has changed the held attach's protection
// (capi/engine/attrwatch.c), each of the 50 opens it again.  Counted under
// strace, under both libraries.
func TestHeldAttachIsDuplicated(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := exec.LookPath("strace")
	require.NoError(t, err, "strace (installed by make test)")
	prog := testenv.Artifact(t, "tests/detach_loop")
	dataFile := regexp.MustCompile(`segments/seg-[0-9]+"`)
	for name, lib := range libraries(t) {
		t.Run(name, func(t *testing.T) {
			for mode, opens := range map[string]int{"held": 2, "held-mprotect": 52} {
				trace := filepath.Join(t.TempDir(), "trace")
				o := testenv.Opts{NewIPC: true, Preload: true, Lib: lib, Store: testenv.NewStore(t)}
				r := testenv.Run(t, o, "strace", "-f", "-qq", "-e", "trace=openat,openat2,open",
					"-o", trace, prog, "50", mode)
				require.Equal(t, 0, r.Code, "%s: %s", mode, r.String())
				require.Equal(t, "50 attaches detached\n", r.Stdout, mode)
				out, err := os.ReadFile(trace)
				require.NoError(t, err)
				assert.Len(t, dataFile.FindAllString(string(out), -1), opens, mode)
			}
		})
	}
}

// The race of a duplicated attach, made to happen every time
// (tests/cprogs/twin_interleave.c): a seccomp filter stops the
// duplicate's mremap in one thread while the main thread takes the held
// attach away -- by shmdt, or by the program's munmap -- and attaches
// segment Y at its address.  The attach must still read X's mark: the
// engine drops a duplicate made while its own unmappings moved (shmdt)
// or the mapping generation did (munmap), and maps X's file instead.
// Each mode fails without its check.
func TestDuplicateInterleavedWithDetach(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/twin_interleave")
	for name, lib := range libraries(t) {
		for _, how := range []string{"shmdt", "munmap"} {
			t.Run(name+"/"+how, func(t *testing.T) {
				o := testenv.Opts{NewIPC: true, Preload: true, Lib: lib, Store: testenv.NewStore(t)}
				r := testenv.Run(t, o, prog, how)
				require.Equal(t, 0, r.Code, r.String())
				assert.Equal(t, "X read X\n", r.Stdout)
			})
		}
	}
}

// Three threads: one attaches and detaches segment X, one attaches X (a
// duplicate of the first thread's attach whenever it holds one) and reads
// X's mark, one attaches Y and reads Y's.  No attach of X may read Y --
// a duplicate made of whatever the kernel mapped where the held attach
// was a moment before -- and X's count ends at 0 (tests/cprogs/twin_race.c).
func TestDuplicateRacingDetach(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/twin_race")
	underEachLibrary(t, func(t *testing.T, o testenv.Opts) {
		r := testenv.Run(t, o, prog, "3")
		require.Equal(t, 0, r.Code, r.String())
		assert.Regexp(t, `^ok [1-9][0-9]*\n$`, r.Stdout)
	})
}
