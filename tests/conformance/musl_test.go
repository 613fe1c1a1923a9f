package conformance

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// The musl build, build/musl/libgoshm.so, proved as the glibc builds are:
// the conformance programs built with musl-gcc (build/musl/tests/, from
// the same sources) run natively in a fresh IPC namespace and under the
// musl build with a fresh store, and must print the same lines but for
// the known differences.  Each comparison is of one musl program with
// itself, so what is musl's own -- its struct shmid_ds, its shmctl and
// shmget wrappers, its errno -- is on both sides: natively musl's wrapper
// calls the kernel, under goshm the program's call reaches goshm instead.
// Semaphores are not here: the musl build leaves them to the kernel
// (docs/DIFFERENCES.md).

// muslLibOf is build/musl/libgoshm.so; make builds it, with musl-gcc
// (musl-tools).
func muslLibOf(t *testing.T) string { return testenv.Artifact(t, "musl/libgoshm.so") }

// muslProg is a conformance program built against musl.
func muslProg(t *testing.T, name string) string {
	t.Helper()
	p := testenv.Artifact(t, "musl/tests/"+name)
	interp := testenv.Run(t, testenv.Opts{}, "readelf", "-l", p)
	require.Equal(t, 0, interp.Code, interp.String())
	require.Contains(t, interp.Stdout, "ld-musl-", "%s is not a musl program", p)
	return p
}

// Every scenario of conf_scenarios, built against musl, as root and as
// uid 1000.
func TestMuslScenarios(t *testing.T) {
	testenv.RequireRoot(t)
	lib, prog := muslLibOf(t), muslProg(t, "conf_scenarios")
	list := listScenariosOf(t, prog)
	// One source: the musl program runs every scenario the glibc one does.
	require.Equal(t, listScenarios(t), list, "the musl and glibc conf_scenarios list different scenarios")
	for _, w := range []who{asRoot, asUser} {
		t.Run(w.String(), func(t *testing.T) {
			for _, sc := range list {
				if sc.rootOnly && w != asRoot {
					continue
				}
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					compareScenarioLib(t, prog, lib, sc.name, w)
				})
			}
		})
	}
}

// conf_fork built against musl: 500 children, a daemon that closes every
// descriptor, racing creators and churn.
func TestMuslFork(t *testing.T) {
	testenv.RequireRoot(t)
	lib, prog := muslLibOf(t), muslProg(t, "conf_fork")
	for _, w := range []who{asRoot, asUser} {
		t.Run(w.String(), func(t *testing.T) {
			t.Run("children", func(t *testing.T) { checkFork500Children(t, w, prog, lib) })
			t.Run("daemon", func(t *testing.T) { checkDaemon(t, w, prog, lib) })
			t.Run("races", func(t *testing.T) { checkProcessRaces(t, w, prog, lib) })
		})
	}
}

// conf_store_ops built against musl: a keyed and a private segment through
// every call, natively and under the musl build, line by line; the
// segments are goshm's (in the store), not the kernel's.
func TestMuslStoreOps(t *testing.T) {
	testenv.RequireRoot(t)
	lib, prog := muslLibOf(t), muslProg(t, "conf_store_ops")
	ops := strings.Fields("create 0x5a17 8192 attach $ write read stat $ set $ lock $ info shmstat 0 " +
		"find 0x5a17 private 4096 attach-ro $ attach-exec $ detach stat $ rm $ stat $ " +
		"find 0x5a17 cycles 20 detach detach find 0x5a17 " +
		"create 0x5a18 4096 attach $ write exec find 0x5a18")
	for _, w := range []who{asRoot, asUser} {
		t.Run(w.String(), func(t *testing.T) {
			native := runNative(t, w, append([]string{prog}, ops...)...)
			store := newStore(t)
			goshm := runGoshmLib(t, w, store, lib, append([]string{prog}, ops...)...)
			require.NoError(t, native.Err, "native run\n%s", native)
			require.Equal(t, 0, native.Code, "native\n%s", native)
			require.Equal(t, 0, goshm.Code, "under the musl build\n%s", goshm)
			assert.Empty(t, native.Stderr)
			assert.Empty(t, goshm.Stderr)
			assert.Equal(t, native.Stdout, goshm.Stdout, "the musl program natively and under build/musl/libgoshm.so")
			assert.Contains(t, goshm.Stdout, "cycles 20 = 0 failed")
			// The keyed segments are the store's: goshm ls lists them.
			ls := testenv.Run(t, testenv.Opts{}, testenv.Artifact(t, "goshm"), "ls", "--dir", store)
			require.Equal(t, 0, ls.Code, ls.String())
			assert.Contains(t, ls.Stdout, "0x00005a17 ")
			assert.Contains(t, ls.Stdout, "0x00005a18 ")
		})
	}
}
