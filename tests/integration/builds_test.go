package integration

import (
	"debug/elf"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// goshm has two builds of one engine (docs/DESIGN.md): build/libgoshm.so,
// compiled by the C compiler alone, and build/libgoshm-go.so, built by
// go -buildmode=c-shared.  These tests check what tells them apart, and
// that they offer programs the same symbols.

// goRuntimeTraces lists what of a Go runtime the ELF file at path holds:
// the .go.buildinfo section the Go linker writes, and symbols of package
// runtime in the symbol tables.
func goRuntimeTraces(t *testing.T, path string) []string {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var found []string
	if f.Section(".go.buildinfo") != nil {
		found = append(found, "section .go.buildinfo")
	}
	syms, _ := f.Symbols() // no .symtab in a stripped library: not an error
	dyn, err := f.DynamicSymbols()
	require.NoError(t, err)
	n := 0
	for _, s := range append(syms, dyn...) {
		if strings.HasPrefix(s.Name, "runtime.") {
			n++
		}
	}
	if n > 0 {
		found = append(found, "symbols runtime.*")
	}
	return found
}

// statusField is a field of a /proc/PID/status text.
func statusField(t *testing.T, status, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `:\s*(\S+)$`).FindStringSubmatch(status)
	require.NotNil(t, m, "no %s in\n%s", name, status)
	return m[1]
}

// A process with build/libgoshm.so preloaded has no Go runtime: one thread,
// no signal blocked, and nothing of Go in the library.  libgoshm-go.so is
// the control: the same checks find its runtime.
func TestDefaultLibraryHasNoGoRuntime(t *testing.T) {
	for _, c := range []struct {
		lib       string
		goRuntime bool
	}{
		{testenv.CLib(t), false},
		{testenv.GoLib(t), true},
	} {
		name := filepath.Base(c.lib)
		t.Run(name, func(t *testing.T) {
			traces := goRuntimeTraces(t, c.lib)
			if c.goRuntime {
				assert.Equal(t, []string{"section .go.buildinfo", "symbols runtime.*"}, traces)
			} else {
				assert.Empty(t, traces)
			}

			// cat reads its own status and mappings: the library is
			// loaded in the process whose threads are counted.
			o := testenv.Opts{Preload: true, Lib: c.lib, Store: testenv.NewStore(t)}
			if !c.goRuntime {
				r := testenv.Run(t, o, "cat", "/proc/self/status", "/proc/self/maps")
				require.Equal(t, 0, r.Code, r.String())
				assert.Contains(t, r.Stdout, c.lib, "the library is mapped")
				assert.Equal(t, "1", statusField(t, r.Stdout, "Threads"))
				assert.Equal(t, "0000000000000000", statusField(t, r.Stdout, "SigBlk"))
			}
			// The Go runtime starts its threads a little after the
			// library is loaded: gort_threads waits for their number
			// to settle.
			r := testenv.Run(t, o, testenv.Artifact(t, "tests/gort_threads"))
			require.Equal(t, 0, r.Code, r.String())
			idle := regexp.MustCompile(`^idle: (\d+)\n`).FindStringSubmatch(r.Stdout)
			require.NotNil(t, idle, r.Stdout)
			if c.goRuntime {
				assert.NotEqual(t, "1", idle[1], "the Go runtime's threads")
			} else {
				assert.Equal(t, "1", idle[1], "threads of a preloaded program")
			}
		})
	}

	f, err := elf.Open(testenv.CLib(t))
	require.NoError(t, err)
	defer f.Close()
	needed, err := f.ImportedLibraries()
	require.NoError(t, err)
	assert.Equal(t, []string{"libc.so.6"}, needed, "libgoshm.so needs the C library only")
}

// headerFunctions lists the functions include/goshm.h declares.
func headerFunctions(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(testenv.Root(t), "include", "goshm.h"))
	require.NoError(t, err)
	decl := regexp.MustCompile(`(?m)^[A-Za-z_].*?\b(goshm_\w+)\(`)
	var names []string
	for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
		if !strings.HasPrefix(m[0], "typedef") {
			names = append(names, m[1])
		}
	}
	require.Contains(t, names, "goshm_shmget", "the header's declarations were not found")
	return names
}

// exported lists the symbols a library defines for others to bind to.
func exported(t *testing.T, lib string) []string {
	t.Helper()
	f, err := elf.Open(lib)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.DynamicSymbols()
	require.NoError(t, err)
	var names []string
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF && elf.ST_BIND(s.Info) != elf.STB_LOCAL {
			names = append(names, s.Name)
		}
	}
	sort.Strings(names)
	return names
}

// Both libraries export the System V calls they serve (shm*, and sem*
// unless GOSHM_SEM=0), shm_open and shm_unlink, the goshm_* functions of
// goshm.h, dlopen and dlmopen (which bring the calls of RTLD_DEEPBIND
// modules to goshm, capi/engine/deepbind.c), sigaction and the signal()
// family (which only note that the program catches a signal, and pass
// the call on: capi/engine/sigwatch.c), the set*id() family, unshare,
// setns, clone and syscall (which only note that a thread's ids may have
// changed, and pass the call on: capi/engine/creds.c), __register_atfork
// (which registers goshm's fork handlers before the first other:
// capi/engine/atfork.c), mmap, mmap64,
// munmap, mremap and remap_file_pages (which only note that a mapping may
// have changed, and pass the call on: capi/engine/mapwatch.c), mprotect,
// pkey_mprotect, madvise, posix_madvise, mlock, mlock2, munlock, mlockall and
// munlockall (which only note that what a mapping is may have changed:
// capi/engine/attrwatch.c), and nothing else
// (capi/engine/exports.map): a program linked against one runs with the
// other, and neither library's internals (nor the Go runtime's) can
// interpose on a program's symbols.
func TestBothLibrariesExportThePublicAPI(t *testing.T) {
	want := append([]string{"shmget", "shmat", "shmdt", "shmctl", "shm_open", "shm_unlink",
		"semget", "semop", "semtimedop", "semctl", "dlopen", "dlmopen",
		"sigaction", "signal", "sigset", "bsd_signal", "sysv_signal",
		"setuid", "seteuid", "setreuid", "setresuid", "setgid", "setegid", "setregid", "setresgid",
		"unshare", "setns", "clone", "syscall", "__register_atfork",
		"mmap", "mmap64", "munmap", "mremap", "remap_file_pages",
		"mprotect", "pkey_mprotect", "madvise", "posix_madvise",
		"mlock", "mlock2", "munlock", "mlockall", "munlockall"}, headerFunctions(t)...)
	sort.Strings(want)
	for _, lib := range []string{testenv.CLib(t), testenv.GoLib(t)} {
		assert.Equal(t, want, exported(t, lib), filepath.Base(lib))
	}
}

// Tools that need a process of one thread behave under libgoshm.so as
// they do natively: setpriv changes ids after raising a capability in its
// own thread (glibc aborts when another thread lacks it), and unshare
// --user needs a single-threaded caller.  With libgoshm-go.so, whose
// runtime brings threads, both fail as docs/DIFFERENCES.md says.  (The
// native run is the oracle: in a chroot the kernel refuses a user
// namespace to everyone, with EPERM.)
func TestDefaultLibraryKeepsSingleThreadedTools(t *testing.T) {
	testenv.RequireRoot(t)
	setpriv := []string{"setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "id", "-u"}
	userns := []string{"unshare", "--user", "true"}
	native := testenv.Opts{Store: testenv.NewStore(t)}
	c := testenv.Opts{Preload: true, Lib: testenv.CLib(t), Store: testenv.NewStore(t)}
	g := testenv.Opts{Preload: true, Lib: testenv.GoLib(t), Store: testenv.NewStore(t)}

	r := testenv.Run(t, native, setpriv...)
	require.Equal(t, 0, r.Code, "setpriv natively\n%s", r)
	require.Equal(t, "1000\n", r.Stdout)
	assert.Equal(t, r.String(), testenv.Run(t, c, setpriv...).String(), "setpriv under libgoshm.so")
	r = testenv.Run(t, g, setpriv...)
	assert.Equal(t, "killed by SIGABRT", howEnded(t, r), "setpriv under libgoshm-go.so\n%s", r)

	r = testenv.Run(t, native, userns...)
	assert.Equal(t, r.String(), testenv.Run(t, c, userns...).String(), "unshare --user under libgoshm.so")
	r = testenv.Run(t, g, userns...)
	assert.Equal(t, 1, r.Code, r.String())
	assert.Contains(t, r.Stderr, "Invalid argument", "unshare --user under libgoshm-go.so")
}
