// Package cmaketest checks goshm's packaging for C projects: the root
// CMakeLists.txt builds and installs libgoshm with no Go toolchain in
// sight, and a small C project (consumer/) links it through
// find_package(goshm), add_subdirectory and pkg-config, then uses the
// store with no LD_PRELOAD.
package cmaketest

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// The flags every C consumer is built with: the header must compile
// cleanly under them.
var consumerCFlags = []string{"-Wall", "-Wextra", "-Werror", "-Wpedantic"}

// withoutGo is the environment with every directory that holds a `go`
// command removed from PATH: CMake builds libgoshm for C developers who
// have no Go toolchain, and must not need one.
func withoutGo() []string {
	var keep []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "go")); err != nil {
			keep = append(keep, dir)
		}
	}
	env := []string{"PATH=" + strings.Join(keep, string(filepath.ListSeparator))}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "GOROOT=") {
			env = append(env, kv)
		}
	}
	return env
}

// run runs a build tool, without Go on PATH, and fails the test with its
// output if it fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	require.NoError(t, err)
	cmd := exec.Command(path, args...)
	cmd.Env = append(withoutGo(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return string(out)
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "this test needs %s (Debian packages cmake, pkg-config, build-essential)", tool)
	}
}

// installed is a goshm installed by cmake into a private prefix.
type installed struct {
	prefix, libdir string
}

// installGoshm configures, builds and installs the repository with cmake.
func installGoshm(t *testing.T) installed {
	t.Helper()
	root := testenv.Root(t)
	tmp := t.TempDir()
	build, prefix := filepath.Join(tmp, "build"), filepath.Join(tmp, "prefix")
	run(t, nil, "cmake", "-S", root, "-B", build, "-DCMAKE_INSTALL_PREFIX="+prefix,
		"-DCMAKE_INSTALL_LIBDIR=lib")
	run(t, nil, "cmake", "--build", build)
	run(t, nil, "cmake", "--install", build)
	return installed{prefix: prefix, libdir: filepath.Join(prefix, "lib")}
}

// headerVersion is GOSHM_VERSION_MAJOR.MINOR.PATCH of include/goshm.h.
func headerVersion(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(testenv.Root(t), "include", "goshm.h"))
	require.NoError(t, err)
	parts := map[string]string{}
	for _, line := range strings.Split(string(src), "\n") {
		var name, value string
		if n, _ := fmt.Sscanf(line, "#define GOSHM_VERSION_%s %s", &name, &value); n == 2 {
			parts[name] = value
		}
	}
	require.Len(t, parts, 3, "GOSHM_VERSION_MAJOR/MINOR/PATCH in goshm.h")
	return parts["MAJOR"] + "." + parts["MINOR"] + "." + parts["PATCH"]
}

// fields reads the "name value" lines that the consumer prints.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, value, _ := strings.Cut(line, " ")
		m[name] = value
	}
	return m
}

// requireLinkedTo checks that bin needs libgoshm.so.0 and that the dynamic
// loader finds it in libdir without any help from the environment.
func requireLinkedTo(t *testing.T, bin, libdir string) {
	t.Helper()
	f := testenv.ELF(t, bin)
	needed, err := f.ImportedLibraries()
	require.NoError(t, err)
	assert.Contains(t, needed, "libgoshm.so.0", "DT_NEEDED of %s", bin)

	cmd := exec.Command("ldd", bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no LD_LIBRARY_PATH, no LD_PRELOAD
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ldd %s:\n%s", bin, out)
	assert.Contains(t, string(out), "libgoshm.so.0 => "+filepath.Join(libdir, "libgoshm.so.0"))
}

// roundTrip writes through bin in one IPC namespace and reads back in a
// fresh one: only a program whose System V calls reach libgoshm finds the
// segment again, because the first namespace died with the writer.
func roundTrip(t *testing.T, bin string) {
	t.Helper()
	store := testenv.NewStore(t)
	msg := "written " + time.Now().Format(time.RFC3339Nano)
	o := testenv.Opts{NewIPC: true, Store: store}

	w := testenv.Run(t, o, bin, "write", "0x60c0ffee", msg)
	require.Equal(t, 0, w.Code, w.String())
	wf := fields(w.Stdout)
	assert.Equal(t, headerVersion(t), wf["version"], "goshm_version()")
	assert.Equal(t, store, wf["store"], "goshm_store_path of the default store is GOSHM_DIR")
	assert.Equal(t, "0", wf["shmid"], "the first id of a fresh store, as in a fresh namespace")
	assert.FileExists(t, filepath.Join(store, "registry"))

	r := testenv.Run(t, o, bin, "read", "0x60c0ffee")
	require.Equal(t, 0, r.Code, r.String())
	rf := fields(r.Stdout)
	assert.Equal(t, msg, rf["message"])
	assert.Equal(t, wf["shmid"], rf["shmid"])
	assert.Equal(t, "1", rf["nattch"])
	assert.Empty(t, r.Stderr)
}

func TestCMakeAndPkgConfigConsumers(t *testing.T) {
	testenv.RequireRoot(t)
	requireTools(t, "cmake", "pkg-config", "gcc", "ldd")
	root := testenv.Root(t)
	consumer := filepath.Join(root, "tests", "cmake", "consumer")
	inst := installGoshm(t)

	t.Run("install puts the library, header and package files in the prefix", func(t *testing.T) {
		real := filepath.Join(inst.libdir, "libgoshm.so."+headerVersion(t))
		for link, target := range map[string]string{
			"libgoshm.so":   "libgoshm.so.0",
			"libgoshm.so.0": filepath.Base(real),
		} {
			got, err := os.Readlink(filepath.Join(inst.libdir, link))
			require.NoError(t, err, "%s should be a symlink", link)
			assert.Equal(t, target, got, link)
		}
		f := testenv.ELF(t, real)
		soname, err := f.DynString(elf.DT_SONAME)
		require.NoError(t, err)
		assert.Equal(t, []string{"libgoshm.so.0"}, soname)
		assert.Nil(t, f.Section(".go.buildinfo"), "the C compiler's build, no Go runtime")
		syms, err := f.DynamicSymbols()
		require.NoError(t, err)
		exported := map[string]bool{}
		for _, s := range syms {
			if s.Section != elf.SHN_UNDEF {
				exported[s.Name] = true
			}
		}
		for _, name := range []string{"shmget", "shmat", "shmdt", "shmctl", "goshm_shmget", "goshm_store_open", "goshm_version"} {
			assert.True(t, exported[name], "%s exported by the installed library", name)
		}

		want, err := os.ReadFile(filepath.Join(root, "include", "goshm.h"))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(inst.prefix, "include", "goshm.h"))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "installed goshm.h")
		assert.FileExists(t, filepath.Join(inst.libdir, "cmake", "goshm", "goshmConfig.cmake"))
		assert.FileExists(t, filepath.Join(inst.libdir, "cmake", "goshm", "goshmConfigVersion.cmake"))
		assert.FileExists(t, filepath.Join(inst.libdir, "pkgconfig", "goshm.pc"))
	})

	t.Run("find_package(goshm) and goshm::goshm", func(t *testing.T) {
		build := filepath.Join(t.TempDir(), "build")
		run(t, nil, "cmake", "-S", consumer, "-B", build, "-DCMAKE_PREFIX_PATH="+inst.prefix)
		run(t, nil, "cmake", "--build", build)
		bin := filepath.Join(build, "roundtrip")
		requireLinkedTo(t, bin, inst.libdir)
		roundTrip(t, bin)
	})

	t.Run("find_package refuses another major version", func(t *testing.T) {
		build := filepath.Join(t.TempDir(), "build")
		cmd := exec.Command("cmake", "-S", consumer, "-B", build,
			"-DCMAKE_PREFIX_PATH="+inst.prefix, "-DGOSHM_WANT_VERSION=1.0")
		cmd.Env = withoutGo()
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "configuring against goshm 1.0 should fail:\n%s", out)
		assert.Contains(t, string(out), `requested version "1.0"`)
		assert.Contains(t, string(out), "version: "+headerVersion(t), "the installed version is named")
	})

	t.Run("pkg-config --cflags --libs goshm", func(t *testing.T) {
		env := []string{"PKG_CONFIG_PATH=" + filepath.Join(inst.libdir, "pkgconfig")}
		assert.Equal(t, headerVersion(t), strings.TrimSpace(run(t, env, "pkg-config", "--modversion", "goshm")))
		flags := strings.Fields(run(t, env, "pkg-config", "--cflags", "--libs", "goshm"))
		assert.Contains(t, flags, "-I"+filepath.Join(inst.prefix, "include"))
		assert.Contains(t, flags, "-L"+inst.libdir)
		assert.Contains(t, flags, "-lgoshm")
		libdir := strings.TrimSpace(run(t, env, "pkg-config", "--variable=libdir", "goshm"))

		bin := filepath.Join(t.TempDir(), "roundtrip")
		args := append([]string{}, consumerCFlags...)
		args = append(args, "-o", bin, filepath.Join(consumer, "roundtrip.c"))
		args = append(args, flags...)
		args = append(args, "-Wl,-rpath,"+libdir)
		run(t, nil, "gcc", args...)
		requireLinkedTo(t, bin, inst.libdir)
		roundTrip(t, bin)
	})

	t.Run("add_subdirectory of the source tree", func(t *testing.T) {
		tmp := t.TempDir()
		build := filepath.Join(tmp, "build")
		run(t, nil, "cmake", "-S", consumer, "-B", build, "-DGOSHM_SOURCE_DIR="+root)
		run(t, nil, "cmake", "--build", build)
		bin := filepath.Join(build, "roundtrip")
		requireLinkedTo(t, bin, filepath.Join(build, "goshm"))
		roundTrip(t, bin)

		// A subproject does not install goshm into its parent's prefix
		// unless asked (GOSHM_INSTALL).
		prefix := filepath.Join(tmp, "prefix")
		run(t, nil, "cmake", "--install", build, "--prefix", prefix)
		assert.NoDirExists(t, filepath.Join(prefix, "lib"))
	})
}
