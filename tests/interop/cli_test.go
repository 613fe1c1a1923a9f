package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/goshm"
	"github.com/goshm/goshm/tests/internal/testenv"
)

// The goshm command as operators run it: the built binary, as other
// users, under LD_PRELOAD, in other namespaces.

func goshmBin(t *testing.T) string { return testenv.Artifact(t, "goshm") }

// goshmRun is the argv of `goshm run` with the library under test, up to
// the options: with the default library nothing is added, so that run
// finds build/libgoshm.so beside build/goshm as it finds an installed one;
// with another (GOSHM_TEST_LIB) it is given with --lib.
func goshmRun(t *testing.T, args ...string) []string {
	argv := []string{goshmBin(t), "run"}
	if testenv.LibName() != testenv.CLibName {
		argv = append(argv, "--lib", testenv.Lib(t))
	}
	return append(argv, args...)
}

var unpriv = testenv.Opts{UID: testenv.UnprivUID, GID: testenv.UnprivGID}

// rm and stat refuse an ordinary user what the kernel refuses: the native
// ipcrm in a fresh IPC namespace is the oracle for the words.
func TestCLIRefusesWhatTheKernelRefuses(t *testing.T) {
	testenv.RequireRoot(t)
	native := testenv.Run(t, testenv.Opts{NewIPC: true}, "sh", "-c",
		`id=$(ipcmk -M 100 -p 0600 | sed 's/.*: //') &&
		 setpriv --reuid=1000 --regid=1000 --clear-groups ipcrm -m "$id"; echo "exit $?"`)
	require.Contains(t, native.Stdout, "exit 1", native.String())
	require.Regexp(t, `^ipcrm: permission denied for id \(\d+\)\n$`, native.Stderr)

	store := testenv.NewStore(t)
	st, err := goshm.Open(store)
	require.NoError(t, err)
	seg, err := st.Get(0x5151, 100, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	id := strconv.Itoa(seg.ID())
	o := unpriv
	o.Store = store

	r := testenv.Run(t, o, goshmBin(t), "rm", id)
	assert.Equal(t, 1, r.Code, r.String())
	assert.Equal(t, "goshm: permission denied for id ("+id+")\n", r.Stderr)
	words := func(msg, prog string) string { // ipcrm's words, without the argument
		w, _, _ := strings.Cut(strings.TrimPrefix(msg, prog+": "), " (")
		return w
	}
	assert.Equal(t, words(native.Stderr, "ipcrm"), words(r.Stderr, "goshm"))
	r = testenv.Run(t, o, goshmBin(t), "rm", "--key", "0x5151")
	assert.Equal(t, 1, r.Code, r.String())
	assert.Equal(t, "goshm: permission denied for key (0x5151)\n", r.Stderr)
	r = testenv.Run(t, o, goshmBin(t), "stat", id)
	assert.Equal(t, 1, r.Code, r.String())
	assert.Equal(t, "goshm: shmctl IPC_STAT id "+id+" (store "+store+"): permission denied\n", r.Stderr)

	// ls needs no permission (SHM_STAT_ANY), like ipcs.
	r = testenv.Run(t, o, goshmBin(t), "ls")
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "0x00005151 "+fmt.Sprintf("%-10s", id)+" root       600        100")

	s, err := seg.Stat()
	require.NoError(t, err, "still there")
	assert.False(t, s.Removed())

	// The owner may, even when it is not the creator.
	require.NoError(t, seg.SetPerm(testenv.UnprivUID, testenv.UnprivGID, 0o600))
	r = testenv.Run(t, o, goshmBin(t), "rm", id)
	assert.Equal(t, 0, r.Code, r.String())
	_, err = seg.Stat()
	assert.Error(t, err, "removed by its owner")
}

// gc never collects what is still attached -- in another IPC namespace --
// and collects it once the attaching process is SIGKILLed, where no detach
// ran.  An ordinary user can collect what its own programs left.
func TestCLIGCAfterAKill(t *testing.T) {
	testenv.RequireRoot(t)
	store := testenv.NewStore(t)
	st, err := goshm.Open(store)
	require.NoError(t, err)
	seg, err := st.Get(goshm.IPC_PRIVATE, 1, 0, 0o600) // create the store as root, mode 1777
	require.NoError(t, err)
	require.NoError(t, seg.Remove())

	o := unpriv
	o.Store = store
	po := o
	po.NewIPC, po.Preload = true, true
	c := startPoke(t, po)
	id := c.do(t, "get 0x6060 4096 01600")
	c.do(t, "at "+id)
	n, _ := strconv.Atoi(id)
	r := testenv.Run(t, o, goshmBin(t), "rm", id)
	require.Equal(t, 0, r.Code, r.String())

	r = testenv.Run(t, o, goshmBin(t), "gc")
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, "nothing to collect in "+store+"\n", r.Stdout, "attached in another namespace")

	require.NoError(t, c.cmd.Process.Kill())
	c.close()

	r = testenv.Run(t, o, goshmBin(t), "gc", "--dry-run", "--json")
	require.Equal(t, 0, r.Code, r.String())
	var items []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &items))
	require.Len(t, items, 1, r.Stdout)
	assert.Equal(t, "segment", items[0]["kind"])
	assert.Equal(t, float64(n), items[0]["shmid"])
	assert.Equal(t, false, items[0]["removed"])

	r = testenv.Run(t, o, goshmBin(t), "gc")
	require.Equal(t, 0, r.Code, r.String())
	assert.Regexp(t, fmt.Sprintf(`^removed segment %d \(%s/segments/seg-\d+\)\n$`, n, regexp.QuoteMeta(store)), r.Stdout)
	entries, err := os.ReadDir(store + "/segments")
	require.NoError(t, err)
	assert.Empty(t, entries, "the data file and the dead namespace's token file are gone")
}

// run execs: the command keeps goshm's pid, and no goshm process stays.
func TestCLIRunExecs(t *testing.T) {
	testenv.RequireRoot(t)
	store := testenv.NewStore(t)
	cmd := testenv.Command(t, t.Context(), testenv.Opts{}, goshmRun(t, "--dir", store, "--",
		"sh", "-c", `echo $$; echo "$LD_PRELOAD"; echo "$GOSHM_DIR"; cat /proc/$$/comm`)...)
	cmd.Env = append(cmd.Env, "LD_PRELOAD="+extraLib(t))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var got []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	require.NoError(t, cmd.Wait())
	require.Len(t, got, 4)
	assert.Equal(t, strconv.Itoa(cmd.Process.Pid), got[0], "the pid goshm run had")
	assert.Equal(t, testenv.Lib(t)+":"+extraLib(t), got[1], "prepended, the old one kept")
	assert.Equal(t, store, got[2])
	assert.Equal(t, "sh", got[3])

	// The write-up's programs under goshm run, across a "restart".
	w := testenv.Run(t, testenv.Opts{NewIPC: true}, goshmRun(t, "--dir", store, "--",
		testenv.Artifact(t, "legacy/systemv_shm_wr"))...)
	require.Equal(t, 0, w.Code, w.String())
	rd := testenv.Run(t, testenv.Opts{NewIPC: true}, goshmRun(t, "--dir", store, "--",
		testenv.Artifact(t, "legacy/systemv_shm_rd"))...)
	require.Equal(t, 0, rd.Code, rd.String())
	assert.Equal(t, letters+"SystemV Share Memory Create and Read Ok\n", rd.Stdout)
}

// extraLib is a do-nothing shared library, to stand for something a
// Dockerfile preloads already.
func extraLib(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "goshm-interop-extra")
	lib := filepath.Join(dir, "libextra.so")
	if _, err := os.Stat(lib); err == nil {
		return lib
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	src := filepath.Join(dir, "extra.c")
	require.NoError(t, os.WriteFile(src, []byte("int goshm_test_extra(void) { return 1; }\n"), 0o644))
	tmp := lib + ".tmp" + strconv.Itoa(os.Getpid())
	out, err := exec.Command("cc", "-shared", "-fPIC", "-o", tmp, src).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.Rename(tmp, lib))
	return lib
}

func TestCLIRunRefusesAStaticBinary(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "static.c")
	require.NoError(t, os.WriteFile(src, []byte(`#include <stdio.h>
int main(void) { puts("static ran"); return 0; }
`), 0o644))
	static := filepath.Join(dir, "static")
	out, err := exec.Command("cc", "-static", "-o", static, src).CombinedOutput()
	require.NoError(t, err, "cc -static: %s", out)

	r := testenv.Run(t, testenv.Opts{Store: testenv.NewStore(t)}, goshmBin(t), "run", "--", static)
	assert.Equal(t, 1, r.Code, r.String())
	assert.Empty(t, r.Stdout, "not run")
	assert.Equal(t, "goshm: run: "+static+" is statically linked: LD_PRELOAD cannot reach it; "+
		"build it dynamically, or link goshm in (-lgoshm) when you relink it\n", r.Stderr)

	r = testenv.Run(t, testenv.Opts{}, goshmBin(t), "run", "--lib", dir+"/none.so", "--", "true")
	assert.Equal(t, 1, r.Code, r.String())
	assert.Contains(t, r.Stderr, "goshm: run: library from --lib: stat "+dir+"/none.so: no such file or directory")
}

// build/goshm and build/shmdemo contain the engine; with LD_PRELOAD set
// they have it twice (and, under libgoshm-go.so, two Go runtimes).  Both
// must work.
func TestCLIUnderLDPreload(t *testing.T) {
	testenv.RequireRoot(t)
	store := testenv.NewStore(t)
	o := testenv.Opts{NewIPC: true, Preload: true, Store: store}

	w := testenv.Run(t, o, testenv.Artifact(t, "shmdemo"), "systemv-wr")
	require.Equal(t, 0, w.Code, w.String())
	r := testenv.Run(t, o, testenv.Artifact(t, "legacy/systemv_shm_rd"))
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, letters+"SystemV Share Memory Create and Read Ok\n", r.Stdout)

	ls := testenv.Run(t, o, goshmBin(t), "ls", "--json")
	require.Equal(t, 0, ls.Code, ls.String())
	var segs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(ls.Stdout), &segs))
	require.Len(t, segs, 1)
	assert.Equal(t, "0x0000162e", segs[0]["key_hex"])
	assert.Equal(t, float64(27), segs[0]["bytes"])

	for _, args := range [][]string{{"stat", "0"}, {"version"}, {"gc"}, {"doctor"}} {
		r := testenv.Run(t, o, append([]string{goshmBin(t)}, args...)...)
		assert.Equal(t, 0, r.Code, "%v: %s", args, r)
	}
	run := testenv.Run(t, o, goshmRun(t, "--", "sh", "-c", `echo "$LD_PRELOAD"`)...)
	require.Equal(t, 0, run.Code, run.String())
	assert.Equal(t, testenv.Lib(t)+"\n", run.Stdout, "not preloaded twice")

	rm := testenv.Run(t, o, goshmBin(t), "rm", "--key", "5678")
	require.Equal(t, 0, rm.Code, rm.String())
	ls = testenv.Run(t, o, goshmBin(t), "ls")
	require.Equal(t, 0, ls.Code, ls.String())
	assert.Len(t, strings.Split(strings.TrimSpace(ls.Stdout), "\n"), 2, "header lines only")
}

// doctorIn runs goshm doctor --json on dir after shell commands that set
// up mounts in a private mount namespace.
func doctorIn(t *testing.T, o testenv.Opts, setup, dir string) (map[string]map[string]string, testenv.Result) {
	t.Helper()
	r := testenv.Run(t, o, "unshare", "-m", "sh", "-c", setup+` && exec "$@"`, "sh",
		goshmBin(t), "doctor", "--json", "--dir", dir)
	var out struct {
		Checks []map[string]string `json:"checks"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &out), r.String())
	m := map[string]map[string]string{}
	for _, c := range out.Checks {
		m[c["name"]] = c
	}
	return m, r
}

func TestDoctorJudgesTheFileSystem(t *testing.T) {
	testenv.RequireRoot(t)
	base := t.TempDir()
	for _, d := range []string{"lower", "upper", "work", "merged", "tmpfs", "volume", "vsrc"} {
		require.NoError(t, os.MkdirAll(filepath.Join(base, d), 0o755))
	}

	t.Run("overlay: the container's writable layer", func(t *testing.T) {
		checks, r := doctorIn(t, testenv.Opts{}, fmt.Sprintf(
			"mount -t overlay overlay -o lowerdir=%[1]s/lower,upperdir=%[1]s/upper,workdir=%[1]s/work %[1]s/merged",
			base), base+"/merged/store")
		assert.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, "WARN", checks["filesystem"]["status"])
		assert.Contains(t, checks["filesystem"]["message"], "is on overlay (mounted at "+base+"/merged)")
		assert.Contains(t, checks["filesystem"]["message"], "lost when the container is recreated; mount a volume on GOSHM_DIR")
	})
	t.Run("tmpfs: lost on restart", func(t *testing.T) {
		checks, r := doctorIn(t, testenv.Opts{}, "mount -t tmpfs tmpfs "+base+"/tmpfs", base+"/tmpfs/store")
		assert.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, "WARN", checks["filesystem"]["status"])
		assert.Contains(t, checks["filesystem"]["message"], "lost on restart")
	})
	t.Run("a volume", func(t *testing.T) {
		checks, r := doctorIn(t, testenv.Opts{}, fmt.Sprintf("mount --bind %[1]s/vsrc %[1]s/volume", base),
			base+"/volume/store")
		assert.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, "OK", checks["filesystem"]["status"], checks["filesystem"]["message"])
		assert.Contains(t, checks["filesystem"]["message"], "(mounted at "+base+"/volume)")
	})
}

// A store an ordinary user cannot write is a FAIL, with exit status 1.
func TestDoctorAsAnOrdinaryUser(t *testing.T) {
	testenv.RequireRoot(t)
	store := testenv.NewStore(t)
	require.NoError(t, os.Mkdir(store, 0o755))
	r := testenv.Run(t, unpriv, goshmBin(t), "doctor", "--dir", store)
	assert.Equal(t, 1, r.Code, r.String())
	assert.Contains(t, r.Stdout, "FAIL  store       "+store+" is not writable by uid 1000 (mode 0755)")

	require.NoError(t, syscall.Chmod(store, 0o1777))
	r = testenv.Run(t, unpriv, goshmBin(t), "doctor", "--dir", store)
	assert.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "OK    store       "+store+" exists, mode 1777, writable by uid 1000")
	assert.Contains(t, r.Stdout, "OK    leases")
}
