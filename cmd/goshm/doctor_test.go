package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/goshm"
)

// doctorRun runs doctor --json and returns the status of each check.
func doctorRun(t *testing.T, env map[string]string, args ...string) (map[string]checkResult, result) {
	t.Helper()
	r := goshmCmd(t, env, append([]string{"doctor", "--json"}, args...)...)
	var out struct {
		Dir    string        `json:"dir"`
		OK     bool          `json:"ok"`
		Checks []checkResult `json:"checks"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout+r.stderr)
	assert.Equal(t, out.OK, r.code == 0, "ok and the exit status agree")
	m := map[string]checkResult{}
	for _, c := range out.Checks {
		m[c.Name] = c
	}
	return m, r
}

func TestDoctorHealthyStore(t *testing.T) {
	dir := newStoreDir(t)
	st, err := goshm.Open(dir)
	require.NoError(t, err)
	_, err = st.Get(1, 3*4096, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	env := map[string]string{"GOSHM_DIR": dir, "GOSHM_LIB": builtLib(t)}

	checks, r := doctorRun(t, env, "--binary", "/bin/true")
	require.Equal(t, 0, r.code, r.stdout)
	for _, name := range []string{"store", "trust", "registry", "space", "kernel", "sysv", "leases", "routing", "posix", "semaphores", "library", "binary"} {
		assert.Equal(t, statusOK, checks[name].Status, "%s: %s", name, checks[name].Message)
	}
	assert.NotEqual(t, statusFail, checks["filesystem"].Status)
	assert.Equal(t, dir+" exists, mode 1777, writable by uid 0", checks["store"].Message)
	assert.Contains(t, checks["registry"].Message, "1 segment(s)")
	assert.Contains(t, checks["space"].Message, "the segments hold 12.0 KiB")
	assert.Contains(t, checks["kernel"].Message, "goshm does not use them")
	assert.Equal(t, builtLib(t)+" (ELFCLASS64 EM_X86_64): C build (no Go runtime)", checks["library"].Message)
	kernelMax, err := os.ReadFile("/proc/sys/kernel/shmmax")
	require.NoError(t, err)
	assert.Contains(t, checks["kernel"].Message, "shmmax="+strings.TrimSpace(string(kernelMax)))
	entries, err := os.ReadDir(dir + "/segments")
	require.NoError(t, err)
	assert.Len(t, entries, 1, "the lease test leaves no file behind")

	// The text form: one line per check.
	r = goshmCmd(t, env, "doctor")
	require.Equal(t, 0, r.code)
	out := lines(r.stdout)
	assert.Len(t, out, 13, "no binary check without --binary")
	assert.Equal(t, "OK    store       "+dir+" exists, mode 1777, writable by uid 0", out[0])
}

func TestDoctorFindsProblems(t *testing.T) {
	lib := builtLib(t)
	t.Run("a store that does not exist yet", func(t *testing.T) {
		dir := newStoreDir(t) + "/deeper"
		checks, r := doctorRun(t, map[string]string{"GOSHM_DIR": dir, "GOSHM_LIB": lib})
		assert.Equal(t, 0, r.code)
		assert.Equal(t, statusOK, checks["store"].Status)
		assert.Contains(t, checks["store"].Message, "does not exist yet; the first shmget creates it")
		assert.Equal(t, "none yet: the first shmget creates it", checks["registry"].Message)
		assert.NoDirExists(t, dir, "the doctor creates nothing")
	})
	t.Run("not a directory", func(t *testing.T) {
		dir := newStoreDir(t)
		require.NoError(t, os.WriteFile(dir, nil, 0o644))
		checks, r := doctorRun(t, map[string]string{"GOSHM_DIR": dir, "GOSHM_LIB": lib})
		assert.Equal(t, 1, r.code)
		assert.Equal(t, statusFail, checks["store"].Status)
		assert.Equal(t, dir+" is not a directory", checks["store"].Message)
	})
	t.Run("mode 0755", func(t *testing.T) {
		dir := newStoreDir(t)
		require.NoError(t, os.Mkdir(dir, 0o755))
		checks, r := doctorRun(t, map[string]string{"GOSHM_DIR": dir, "GOSHM_LIB": lib})
		assert.Equal(t, 0, r.code)
		assert.Equal(t, statusWarn, checks["store"].Status)
		assert.Contains(t, checks["store"].Message, "has mode 0755, not 1777")
	})
	t.Run("a damaged registry", func(t *testing.T) {
		dir := newStoreDir(t)
		st, err := goshm.Open(dir)
		require.NoError(t, err)
		_, err = st.Get(1, 10, goshm.IPC_CREAT, 0o600)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(filepath.Join(dir, "registry"), 100))
		checks, r := doctorRun(t, map[string]string{"GOSHM_DIR": dir, "GOSHM_LIB": lib})
		assert.Equal(t, 1, r.code)
		assert.Equal(t, statusFail, checks["registry"].Status)
		assert.Contains(t, checks["registry"].Message, "input/output error")
	})
	t.Run("a store in memory", func(t *testing.T) {
		dir, err := os.MkdirTemp("/dev/shm", "goshm-doctor-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		checks, r := doctorRun(t, map[string]string{"GOSHM_DIR": dir + "/store", "GOSHM_LIB": lib})
		assert.Equal(t, 0, r.code)
		assert.Equal(t, statusWarn, checks["filesystem"].Status)
		assert.Contains(t, checks["filesystem"].Message, "is on tmpfs (mounted at /dev/shm): in memory, lost on restart")
	})
	t.Run("a static binary", func(t *testing.T) {
		static := staticProgram(t, t.TempDir())
		checks, r := doctorRun(t, map[string]string{"GOSHM_DIR": newStoreDir(t), "GOSHM_LIB": lib},
			"--binary", static)
		assert.Equal(t, 1, r.code)
		assert.Equal(t, statusFail, checks["binary"].Status)
		assert.Contains(t, checks["binary"].Message, "is statically linked")
	})
	t.Run("the Go-built library", func(t *testing.T) {
		checks, r := doctorRun(t, map[string]string{"GOSHM_DIR": newStoreDir(t)}, "--lib", builtGoLib(t))
		assert.Equal(t, 0, r.code)
		assert.Equal(t, statusOK, checks["library"].Status)
		assert.Contains(t, checks["library"].Message, builtGoLib(t)+" (")
		assert.Contains(t, checks["library"].Message, "): Go c-shared build (carries a Go runtime)")
	})
	t.Run("no library", func(t *testing.T) {
		if systemLib("libgoshm.so") {
			t.Fatalf("a libgoshm.so is installed system-wide; this test needs a machine without one")
		}
		checks, r := doctorRun(t, map[string]string{"GOSHM_DIR": newStoreDir(t)})
		assert.Equal(t, 0, r.code, "a missing library is a warning: the store is still usable")
		assert.Equal(t, statusWarn, checks["library"].Status)
		assert.Contains(t, checks["library"].Message, "libgoshm.so not found")
	})
}

func TestMountinfo(t *testing.T) {
	const info = `21 1 0:19 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
22 21 0:20 / /proc rw,nosuid - proc proc rw
30 21 8:1 /volumes/data /var/lib/goshm rw,relatime shared:5 - ext4 /dev/sda1 rw
31 21 8:1 /x /mnt/with\040space rw,relatime - xfs /dev/sdb1 rw
32 21 0:40 / /var/lib/goshm rw - tmpfs tmpfs rw
`
	ms := parseMountinfo(info)
	require.Len(t, ms, 5)
	assert.Equal(t, mount{Point: "/mnt/with space", Root: "/x", FSType: "xfs", Source: "/dev/sdb1"}, ms[3])
	for path, want := range map[string]string{
		"/":                   "overlay",
		"/var/lib":            "overlay",
		"/var/lib/goshmx":     "overlay",
		"/var/lib/goshm":      "tmpfs", // mounted over the ext4 volume
		"/var/lib/goshm/seg":  "tmpfs",
		"/mnt/with space/dir": "xfs",
		"/proc/self":          "proc",
	} {
		m, ok := mountOf(ms, path)
		require.True(t, ok, path)
		assert.Equal(t, want, m.FSType, path)
	}
	_, ok := mountOf(nil, "/")
	assert.False(t, ok)
}

// What the engine refuses to follow, doctor names: a symbolic link planted
// as segments/ or the registry, a hard link or a FIFO among the files, and
// for root a store another user owns (docs/SECURITY.md).
func TestDoctorTrust(t *testing.T) {
	lib := builtLib(t)
	made := func(t *testing.T) string {
		dir := newStoreDir(t)
		st, err := goshm.Open(dir)
		require.NoError(t, err)
		_, err = st.Get(1, 4096, goshm.IPC_CREAT, 0o600)
		require.NoError(t, err)
		return dir
	}
	check := func(t *testing.T, dir string) checkResult {
		checks, _ := doctorRun(t, map[string]string{"GOSHM_DIR": dir, "GOSHM_LIB": lib})
		return checks["trust"]
	}
	t.Run("healthy", func(t *testing.T) {
		c := check(t, made(t))
		assert.Equal(t, statusOK, c.Status, c.Message)
	})
	t.Run("segments is a symlink", func(t *testing.T) {
		dir := made(t)
		elsewhere := t.TempDir()
		require.NoError(t, os.RemoveAll(filepath.Join(dir, "segments")))
		require.NoError(t, os.Symlink(elsewhere, filepath.Join(dir, "segments")))
		c := check(t, dir)
		assert.Equal(t, statusFail, c.Status)
		assert.Contains(t, c.Message, filepath.Join(dir, "segments")+" is a symlink (to "+elsewhere+")")
	})
	t.Run("registry is a symlink", func(t *testing.T) {
		dir := made(t)
		reg := filepath.Join(dir, "registry")
		require.NoError(t, os.Rename(reg, reg+".real"))
		require.NoError(t, os.Symlink(reg+".real", reg))
		c := check(t, dir)
		assert.Equal(t, statusFail, c.Status)
		assert.Contains(t, c.Message, reg+" is a symlink")
	})
	t.Run("hard link and FIFO in segments", func(t *testing.T) {
		dir := made(t)
		other := filepath.Join(t.TempDir(), "other")
		require.NoError(t, os.WriteFile(other, []byte("x"), 0o644))
		require.NoError(t, os.Link(other, filepath.Join(dir, "segments", "seg-77")))
		require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "segments", "seg-78"), 0o644))
		c := check(t, dir)
		assert.Equal(t, statusFail, c.Status)
		assert.Contains(t, c.Message, "seg-77 has 2 hard links")
		assert.Contains(t, c.Message, "seg-78 is not a regular file")
	})
	t.Run("root and a store of another user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Fatalf("run as root")
		}
		dir := made(t)
		require.NoError(t, os.Chown(dir, 1000, 1000))
		c := check(t, dir)
		assert.Equal(t, statusWarn, c.Status)
		assert.Contains(t, c.Message, "uid 1000 owns "+dir)
	})
}

// A segment made on purpose past goshm -- by a program run without the
// library, in a fresh IPC namespace -- is named by doctor with its
// creator's command line, and so is a kernel semaphore set (ipcmk -S); the
// segment and the set that preloaded programs made in the store (and the
// presence segment counting the attach) are not.
func TestDoctorNamesEscapedSegments(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare --ipc")
	}
	goshmBin := built(t, "goshm")
	poke := built(t, "tests/shmpoke")
	store := newStoreDir(t)
	script := `set -e
(printf 'get 0x4e5c4e5c 4096 01600\nat 0\n'; sleep 2) | "$POKE" >/dev/null &
(printf 'get 0x600d600d 4096 01600\n'; sleep 2) | env LD_PRELOAD="$LIB" GOSHM_DIR="$STORE" "$POKE" >/dev/null &
ipcmk -S 2 >/dev/null
env LD_PRELOAD="$LIB" GOSHM_DIR="$STORE" ipcmk -S 3 >/dev/null
sleep 0.5
"$GOSHM" doctor --json || true
wait`
	cmd := exec.Command("unshare", "--ipc", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "POKE="+poke, "LIB="+builtLib(t), "STORE="+store,
		"GOSHM="+goshmBin, "GOSHM_DIR="+store, "GOSHM_LIB="+builtLib(t))
	out, err := cmd.Output()
	require.NoError(t, err, string(out))
	var res struct {
		Checks []checkResult `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	var esc checkResult
	for _, c := range res.Checks {
		if c.Name == "escapes" {
			esc = c
		}
	}
	assert.Equal(t, statusWarn, esc.Status, esc.Message)
	assert.Contains(t, esc.Message, "1 kernel segment(s) and 1 semaphore set(s) in this IPC namespace are not goshm's")
	assert.Contains(t, esc.Message, "key 0x4e5c4e5c, 4096 bytes, 1 attach(es)) made by pid")
	assert.Contains(t, esc.Message, "("+poke+")")
	assert.Regexp(t, `semaphore set id \d+ \(key 0x[0-9a-f]+, 2 semaphore\(s\)\)`, esc.Message)
	assert.NotContains(t, esc.Message, "0x600d600d")
	assert.NotContains(t, esc.Message, "3 semaphore(s)", "the set goshm served")

	// Nothing but goshm's in a namespace of its own.
	cmd = exec.Command("unshare", "--ipc", goshmBin, "doctor", "--json")
	cmd.Env = append(os.Environ(), "GOSHM_DIR="+store, "GOSHM_LIB="+builtLib(t))
	out, _ = cmd.Output()
	assert.Contains(t, string(out), "no System V segment or semaphore set in this IPC namespace but goshm's")
}

// doctor --binary names what LD_PRELOAD cannot reach, or reaches only
// through goshm's dlopen: a Go program's system calls, a set-user-ID
// program, PHP's RTLD_DEEPBIND extensions.
func TestDoctorBinaryReach(t *testing.T) {
	env := map[string]string{"GOSHM_DIR": newStoreDir(t), "GOSHM_LIB": builtLib(t)}
	notes := func(prog string) []checkResult {
		t.Helper()
		r := goshmCmd(t, env, "doctor", "--json", "--binary", prog)
		var out struct {
			Checks []checkResult `json:"checks"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout+r.stderr)
		var n []checkResult
		for _, c := range out.Checks {
			if c.Name == "reach" {
				n = append(n, c)
			}
		}
		return n
	}
	assert.Empty(t, notes("/bin/true"), "a C program calling the C library")

	n := notes(built(t, "goshm"))
	require.Len(t, n, 1)
	assert.Equal(t, statusWarn, n[0].Status)
	assert.Contains(t, n[0].Message, "is a Go program")

	n = notes("/usr/bin/php8.2")
	require.Len(t, n, 1, "php8.2-cli is installed by scripts/test-deps.sh")
	assert.Equal(t, statusOK, n[0].Status)
	assert.Contains(t, n[0].Message, "RTLD_DEEPBIND: libgoshm.so interposes dlopen")

	suid := filepath.Join(t.TempDir(), "suid-true")
	b, err := os.ReadFile("/bin/true")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(suid, b, 0o755))
	require.NoError(t, os.Chmod(suid, os.ModeSetuid|0o755))
	n = notes(suid)
	require.Len(t, n, 1, "%v", goshmCmd(t, env, "doctor", "--binary", suid))
	assert.Contains(t, n[0].Message, "is set-user-ID")

	// Linked with -lgoshm, as make links build/linked/*: nothing to say.
	// Linked with the C library first: its calls bind to the C library's.
	assert.Empty(t, notes(built(t, "linked/systemv_shm_rd")))
	dir := t.TempDir()
	src := filepath.Join(dir, "late.c")
	require.NoError(t, os.WriteFile(src, []byte("#include <sys/shm.h>\n"+
		"int main(void) { return shmget(IPC_PRIVATE, 4096, 0600) < 0; }\n"), 0o644))
	late := filepath.Join(dir, "late")
	cc := exec.Command("cc", "-o", late, src, "-Wl,--no-as-needed", "-lc",
		"-L"+filepath.Dir(builtLib(t)), "-lgoshm")
	out, err := cc.CombinedOutput()
	require.NoError(t, err, "cc: %s", out)
	n = notes(late)
	require.Len(t, n, 1)
	assert.Equal(t, statusWarn, n[0].Status)
	assert.Contains(t, n[0].Message, "is linked with libgoshm.so after libc.so.6")
}

// For a program built against musl, doctor --binary and run choose
// goshm's musl build, found where libgoshm.so is, and say so; a glibc
// library given for it is refused.
func TestDoctorAndRunChooseMuslBuild(t *testing.T) {
	prog := built(t, "musl/legacy/systemv_shm_rd") // make builds it (musl-tools)
	muslBuild := built(t, "musl/libgoshm.so")
	old := executablePath
	executablePath = func() (string, error) { return filepath.Join(filepath.Dir(builtLib(t)), "goshm"), nil }
	t.Cleanup(func() { executablePath = old })
	env := map[string]string{"GOSHM_DIR": newStoreDir(t)}

	checks, r := doctorRun(t, env, "--binary", prog)
	require.Equal(t, statusOK, checks["binary"].Status, r.stdout)
	assert.Contains(t, checks["binary"].Message, "uses musl (/lib/ld-musl-")
	assert.Contains(t, checks["binary"].Message, "goshm run preloads "+muslBuild)

	r = goshmCmd(t, env, "run", "--", prog)
	require.Equal(t, 0, r.code, r.stderr)
	require.NotNil(t, r.exec)
	assert.Contains(t, r.exec.env, "LD_PRELOAD="+muslBuild)
	assert.Contains(t, r.stderr, "preloading "+muslBuild)

	env["GOSHM_LIB"] = builtLib(t)
	checks, _ = doctorRun(t, env, "--binary", prog)
	assert.Equal(t, statusFail, checks["binary"].Status)
	assert.Contains(t, checks["binary"].Message, "uses musl but "+builtLib(t)+" is built for glibc")
}

// Installed (make install, the Debian package), the musl build is
// LIBDIR/goshm/musl/libgoshm.so, beside a goshm in BINDIR = PREFIX/bin
// with LIBDIR = PREFIX/lib: run and doctor --binary find it there.
func TestRunFindsInstalledMuslBuild(t *testing.T) {
	prog := built(t, "musl/legacy/systemv_shm_rd") // make builds it (musl-tools)
	root := t.TempDir()
	install := func(src, dst string) {
		data, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		require.NoError(t, os.WriteFile(dst, data, 0o644))
	}
	install(builtLib(t), filepath.Join(root, "lib", "libgoshm.so"))
	installed := filepath.Join(root, "lib", "goshm", "musl", "libgoshm.so")
	install(built(t, "musl/libgoshm.so"), installed)
	self := filepath.Join(root, "bin", "goshm")
	env := map[string]string{"GOSHM_DIR": newStoreDir(t)}

	r := goshmCmdSelf(t, self, env, "run", "--", prog)
	require.Equal(t, 0, r.code, r.stderr)
	require.NotNil(t, r.exec)
	assert.Contains(t, r.exec.env, "LD_PRELOAD="+installed)
	assert.Contains(t, r.stderr, "preloading "+installed)
	r = goshmCmdSelf(t, self, env, "doctor", "--binary", prog)
	assert.Contains(t, r.stdout, "goshm run preloads "+installed)

	// Without it, run says where it looked: both layouts.
	require.NoError(t, os.Remove(installed))
	if !systemLib(muslInstalled) && !systemLib(muslLib) {
		r = goshmCmdSelf(t, self, env, "run", "--", prog)
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "needs goshm's musl build: musl/libgoshm.so not found (looked in ")
		assert.Contains(t, r.stderr, filepath.Join(root, "lib", "musl", "libgoshm.so")+", "+installed+", ")
	}
}
