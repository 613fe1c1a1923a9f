package install

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// entry is one path of an installed tree as compared: its type and mode,
// a symlink's target, and for text files their content.
type entry struct {
	kind   string // "d", "f", "l"
	mode   fs.FileMode
	target string
	text   string // content of the files that are not ELF
}

// tree reads everything below root into a map keyed by the path below root.
func tree(t *testing.T, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{mode: info.Mode().Perm()}
		switch {
		case d.IsDir():
			e.kind = "d"
		case d.Type()&fs.ModeSymlink != 0:
			e.kind = "l"
			e.mode = 0
			if e.target, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			e.kind = "f"
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if !strings.HasPrefix(string(b), "\x7fELF") {
				e.text = string(b)
			}
		}
		out[rel] = e
		return nil
	})
	require.NoError(t, err)
	return out
}

// makeInstall runs `make install` with DESTDIR and the variables given.
func makeInstall(t *testing.T, destdir string, vars ...string) {
	t.Helper()
	run(t, "", nil, makeCmd(), append([]string{"-s", "install", "DESTDIR=" + destdir}, vars...)...)
}

// cmakeInstall configures, builds and installs with CMake into DESTDIR.
func cmakeInstall(t *testing.T, destdir, prefix, libdir string) {
	t.Helper()
	build := filepath.Join(t.TempDir(), "build")
	run(t, "", nil, "cmake", "-S", testenv.Root(t), "-B", build,
		"-DCMAKE_INSTALL_PREFIX="+prefix, "-DCMAKE_INSTALL_LIBDIR="+libdir)
	run(t, "", nil, "cmake", "--build", build)
	run(t, "", []string{"DESTDIR=" + destdir}, "cmake", "--install", build)
}

// What make install adds to CMake's install: what needs Go to build, the
// musl build (CMake builds for the C developer who relinks, with the
// system's compiler; the musl build is for goshm run, which preloads it
// into musl programs), and the tool's own man page and completion.  Paths
// below the prefix.
func makeOnly(libdir string) []string {
	return []string{
		"bin", "bin/goshm",
		libdir + "/libgoshm-go.so",
		libdir + "/goshm", libdir + "/goshm/musl", libdir + "/goshm/musl/libgoshm.so",
		"share/man/man1", "share/man/man1/goshm.1",
		"share/bash-completion", "share/bash-completion/completions",
		"share/bash-completion/completions/goshm",
	}
}

// `make install` and `cmake --install` put the same files in the same
// places with the same modes, symlinks and text, for the default prefix
// and for the Debian layout (the library in the multiarch directory);
// make install adds exactly the Go-built files, the musl build and the
// tool's man page and completion.  Then `make uninstall` leaves no file
// behind.
func TestMakeInstallAgreesWithCMake(t *testing.T) {
	testenv.RequireRoot(t)
	requireTools(t, "make", "cmake", "gcc", "musl-gcc")
	version := goshmVersion(t)
	for _, layout := range []struct{ prefix, libdir string }{
		{"/usr/local", "lib"},
		{"/usr", "lib/x86_64-linux-gnu"},
	} {
		t.Run(layout.prefix, func(t *testing.T) {
			mk, cm := t.TempDir(), t.TempDir()
			makeInstall(t, mk, "PREFIX="+layout.prefix, "LIBDIR="+layout.prefix+"/"+layout.libdir)
			cmakeInstall(t, cm, layout.prefix, layout.libdir)
			mkTree := tree(t, filepath.Join(mk, layout.prefix))
			cmTree := tree(t, filepath.Join(cm, layout.prefix))

			extra := map[string]bool{}
			for _, p := range makeOnly(layout.libdir) {
				extra[p] = true
			}
			for p, want := range cmTree {
				got, ok := mkTree[p]
				if assert.True(t, ok, "make install lacks %s, which cmake installs", p) {
					assert.Equal(t, want, got, "%s differs between make install and cmake --install", p)
				}
			}
			var added []string
			for p := range mkTree {
				if _, ok := cmTree[p]; !ok {
					added = append(added, p)
					assert.True(t, extra[p], "make install puts %s in place, cmake --install does not", p)
				}
			}
			sort.Strings(added)
			assert.ElementsMatch(t, makeOnly(layout.libdir), added)

			lib := filepath.Join(layout.libdir, "libgoshm.so."+version)
			assert.Equal(t, entry{kind: "l", target: "libgoshm.so." + strings.Split(version, ".")[0]},
				mkTree[filepath.Join(layout.libdir, "libgoshm.so")])
			assert.Equal(t, entry{kind: "l", target: "libgoshm.so." + version},
				mkTree[filepath.Join(layout.libdir, "libgoshm.so.0")])
			for _, dir := range []string{mk, cm} {
				requireELF(t, filepath.Join(dir, layout.prefix, lib), "libgoshm.so.0")
			}
			requireELF(t, filepath.Join(mk, layout.prefix, layout.libdir, "libgoshm-go.so"), "libgoshm-go.so")
			requireMuslBuild(t, filepath.Join(mk, layout.prefix, layout.libdir, "goshm/musl/libgoshm.so"))
			assert.Equal(t, fs.FileMode(0o644), mkTree[filepath.Join(layout.libdir, "goshm/musl/libgoshm.so")].mode)
			pc := mkTree[filepath.Join(layout.libdir, "pkgconfig/goshm.pc")].text
			assert.Contains(t, pc, "prefix="+layout.prefix+"\n")
			assert.Contains(t, pc, "libdir=${prefix}/"+layout.libdir+"\n")
			assert.Contains(t, pc, "Version: "+version+"\n")

			run(t, "", nil, makeCmd(), "-s", "uninstall", "DESTDIR="+mk,
				"PREFIX="+layout.prefix, "LIBDIR="+layout.prefix+"/"+layout.libdir)
			for p, e := range tree(t, mk) {
				assert.Equal(t, "d", e.kind, "make uninstall left %s behind", p)
			}
			assert.NoDirExists(t, filepath.Join(mk, layout.prefix, layout.libdir, "cmake"))
		})
	}
}

// requireMuslBuild checks that the library at path is the musl build:
// linked against musl's libc.so, exporting the System V calls.
func requireMuslBuild(t *testing.T, path string) {
	t.Helper()
	f := testenv.ELF(t, path)
	needed, err := f.ImportedLibraries()
	require.NoError(t, err)
	assert.Contains(t, needed, "libc.so", "%s: the musl build needs musl's libc.so", path)
	assert.NotContains(t, needed, "libc.so.6", "%s: the musl build needs no glibc", path)
	syms, err := f.DynamicSymbols()
	require.NoError(t, err)
	exported := map[string]bool{}
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF {
			exported[s.Name] = true
		}
	}
	for _, name := range []string{"shmget", "shmat", "shmdt", "shmctl"} {
		assert.True(t, exported[name], "%s exports %s", path, name)
	}
}

// requireELF checks a library's SONAME and that it exports the System V
// calls.
func requireELF(t *testing.T, path, soname string) {
	t.Helper()
	f := testenv.ELF(t, path)
	got, err := f.DynString(elf.DT_SONAME)
	require.NoError(t, err)
	assert.Equal(t, []string{soname}, got, "%s: SONAME", path)
	syms, err := f.DynamicSymbols()
	require.NoError(t, err)
	exported := map[string]bool{}
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF {
			exported[s.Name] = true
		}
	}
	for _, name := range []string{"shmget", "shmat", "shmdt", "shmctl", "goshm_version"} {
		assert.True(t, exported[name], "%s exports %s", path, name)
	}
}

// A C project finds the library that `make install` put in the Debian
// layout with find_package(goshm) and with pkg-config, builds, and its
// program keeps a segment in the store with no LD_PRELOAD.  The CMake
// files are written by make, not CMake, so this is their test.
func TestMakeInstalledLibraryLinks(t *testing.T) {
	testenv.RequireRoot(t)
	requireTools(t, "make", "cmake", "gcc", "pkg-config")
	root := testenv.Root(t)
	dest := t.TempDir()
	prefix := filepath.Join(dest, "usr")
	libdir := filepath.Join(prefix, "lib/x86_64-linux-gnu")
	makeInstall(t, "", "PREFIX="+prefix, "LIBDIR="+libdir)

	consumer := filepath.Join(root, "tests/cmake/consumer")
	build := filepath.Join(t.TempDir(), "build")
	run(t, "", nil, "cmake", "-S", consumer, "-B", build, "-DCMAKE_PREFIX_PATH="+prefix)
	run(t, "", nil, "cmake", "--build", build)

	env := []string{"PKG_CONFIG_PATH=" + filepath.Join(libdir, "pkgconfig")}
	flags := strings.Fields(run(t, "", env, "pkg-config", "--cflags", "--libs", "goshm"))
	assert.Contains(t, flags, "-I"+filepath.Join(prefix, "include"))
	assert.Contains(t, flags, "-L"+libdir)
	bin := filepath.Join(t.TempDir(), "roundtrip")
	run(t, "", nil, "gcc", append(append([]string{"-o", bin, filepath.Join(consumer, "roundtrip.c")},
		flags...), "-Wl,-rpath,"+libdir)...)

	for _, prog := range []string{filepath.Join(build, "roundtrip"), bin} {
		store := testenv.NewStore(t)
		w := testenv.Run(t, testenv.Opts{Store: store, NewIPC: true}, prog, "write", "0x7e57", "installed")
		require.Equal(t, 0, w.Code, w.String())
		r := testenv.Run(t, testenv.Opts{Store: store, NewIPC: true}, prog, "read", "0x7e57")
		require.Equal(t, 0, r.Code, r.String())
		assert.Contains(t, r.Stdout, "message installed", fmt.Sprintf("%s read back what it wrote in another IPC namespace", prog))
	}
}
