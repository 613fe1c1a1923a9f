package realprog

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/goshm"
	"github.com/goshm/goshm/tests/internal/testenv"
)

// Debian's PHP CLI (php8.2-cli; sysvshm, shmop and opcache are in
// php8.2-common and php8.2-opcache).
const php = "/usr/bin/php8.2"

// PHP loads sysvshm and shmop with RTLD_DEEPBIND, which once hid their
// calls from the preloaded library: PHP printed success while its segments
// went to the kernel and were lost at the restart (issue 16).  Now
// shm_put_var's variables and shmop's bytes outlive the IPC namespace that
// wrote them, a C program reads and writes the same shmop segment, and
// shm_remove and shmop_delete remove them from the store.  Natively the
// same steps lose everything: the test's own oracle.
func TestPHPSysvshmShmopRestart(t *testing.T) {
	testenv.RequireRoot(t)
	script, err := filepath.Abs("testdata/sysv.php")
	require.NoError(t, err)
	t.Logf("ran %s", strings.SplitN(mustRun(t, 30*time.Second, php, "-v").Stdout, "\n", 2)[0])
	const kv, ko = "0x50485001", "0x50485002"
	phpArgv := func(args ...string) []string { return append([]string{php, script}, args...) }

	t.Run("native loses it", func(t *testing.T) {
		o := testenv.Opts{NewIPC: true}
		r := testenv.Run(t, o, phpArgv("write", kv, ko, "hello")...)
		require.Equal(t, 0, r.Code, r.String())
		r = testenv.Run(t, o, phpArgv("read", kv, ko)...)
		assert.Equal(t, 1, r.Code, r.String())
		assert.Contains(t, r.Stdout, "sysvshm: no variable")
	})

	store := testenv.NewStore(t)
	o := testenv.Opts{NewIPC: true, Preload: true, Store: store}
	// Written in one namespace, which then dies; the kernel of that
	// namespace never had the two keys.
	r := testenv.Run(t, o, "sh", "-c", strings.Join(phpArgv("write", kv, ko, "kept-by-goshm"), " ")+
		" && cat /proc/sysvipc/shm")
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "wrote")
	for _, k := range []string{kv, ko} {
		n, err := strconv.ParseInt(k, 0, 64)
		require.NoError(t, err)
		assert.NotRegexp(t, regexp.MustCompile(fmt.Sprintf(`(?m)^\s*%d\s`, n)), r.Stdout,
			"key %s went to the kernel", k)
	}

	r = testenv.Run(t, o, phpArgv("read", kv, ko)...)
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, "sysvshm: kept-by-goshm 42\nshmop: kept-by-goshm (64 bytes)\n", r.Stdout)
	assert.Empty(t, r.Stderr)

	// A C program, in yet another namespace, reads what PHP wrote with
	// shmop and writes over it; PHP sees the C program's bytes.
	poke := testenv.Artifact(t, "tests/shmpoke")
	r = testenv.Run(t, testenv.Opts{NewIPC: true, Preload: true, Store: store,
		Stdin: "get " + ko + " 0 0\n"}, poke)
	require.Equal(t, 0, r.Code, r.String())
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	require.Len(t, lines, 2, r.String())
	id := lines[1]
	r = testenv.Run(t, testenv.Opts{NewIPC: true, Preload: true, Store: store,
		Stdin: "at " + id + "\nr 0 13\nw 0 written-by-C\\0\n"}, poke)
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "kept-by-goshm")
	r = testenv.Run(t, o, phpArgv("read", kv, ko)...)
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "shmop: written-by-C")

	// shm_remove and shmop_delete: gone from the store.
	r = testenv.Run(t, o, phpArgv("remove", kv, ko)...)
	require.Equal(t, 0, r.Code, r.String())
	data, _ := storeFiles(t, store)
	assert.Empty(t, data, "segments left in the store after shm_remove and shmop_delete")
}

// opcache with its System V memory model (opcache.preferred_memory_model=shm)
// makes one IPC_PRIVATE segment of opcache.memory_consumption and marks it
// for removal at once.  goshm serves it like any other: a store file
// while PHP runs, removed when it exits.  GOSHM_KEYS without "private"
// leaves it to the kernel, keys listed still going to goshm
// (docs/DIFFERENCES.md, "PHP").
func TestPHPOpcacheSysvSegment(t *testing.T) {
	testenv.RequireRoot(t)
	script, err := filepath.Abs("testdata/sysv.php")
	require.NoError(t, err)
	argv := []string{php, "-d", "opcache.enable_cli=1", "-d", "opcache.preferred_memory_model=shm",
		"-d", "opcache.memory_consumption=32", script, "opcache"}
	const opcacheSize = "33554432"

	r := testenv.Run(t, testenv.Opts{NewIPC: true}, argv...)
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "opcache enabled=true model=shm")
	assert.Contains(t, r.Stdout, "kernel segment sizes: ["+opcacheSize+"]", "natively: the kernel's")

	store := testenv.NewStore(t)
	r = testenv.Run(t, testenv.Opts{NewIPC: true, Preload: true, Store: store}, argv...)
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "opcache enabled=true model=shm")
	// Only goshm's one-byte presence segment is the kernel's.
	assert.Contains(t, r.Stdout, "kernel segment sizes: [1]", "under goshm: the store's")
	data, _ := storeFiles(t, store)
	assert.Empty(t, data, "opcache's segment outlived PHP")

	r = testenv.Run(t, testenv.Opts{NewIPC: true, Preload: true, Store: store,
		Env: []string{"GOSHM_KEYS=0x50485001-0x50485002"}}, argv...)
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "kernel segment sizes: ["+opcacheSize+"]", "GOSHM_KEYS leaves it to the kernel")
}

// PHP's sysvsem extension, loaded with RTLD_DEEPBIND, reaches goshm's
// semaphore calls: its set is in the store, not in the kernel of the
// namespace that made it.  (deepbind.c once looked only at names that
// begin with "shm", and sent these calls to the kernel.)  Natively the
// kernel has it: the test's oracle.
func TestPHPSysvsemInStore(t *testing.T) {
	testenv.RequireRoot(t)
	script, err := filepath.Abs("testdata/sysv.php")
	require.NoError(t, err)
	const key = 0x50485003
	semKeyRe := regexp.MustCompile(fmt.Sprintf(`(?m)^\s*%d\s`, key))
	argv := fmt.Sprintf("%s %s sem %#x && cat /proc/sysvipc/sem", php, script, key)

	r := testenv.Run(t, testenv.Opts{NewIPC: true}, "sh", "-c", argv)
	require.Equal(t, 0, r.Code, r.String())
	assert.Regexp(t, semKeyRe, r.Stdout, "natively the kernel has the set")

	store := testenv.NewStore(t)
	r = testenv.Run(t, testenv.Opts{NewIPC: true, Preload: true, Store: store}, "sh", "-c", argv)
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "sem acquired and released")
	assert.NotRegexp(t, semKeyRe, r.Stdout, "the set went to the kernel")
	st, err := goshm.Open(store)
	require.NoError(t, err)
	sets, err := st.SemSets()
	require.NoError(t, err)
	require.Len(t, sets, 1, "the store holds PHP's set")
	assert.Equal(t, key, sets[0].Key)
}

// posix_seteuid(), from PHP's posix extension (RTLD_DEEPBIND too), is a
// change of ids goshm sees (capi/engine/creds.c): root's 0600 segment is
// refused to euid 1000 and opened again as root, as natively.
func TestPHPSeteuidIsSeen(t *testing.T) {
	testenv.RequireRoot(t)
	script, err := filepath.Abs("testdata/sysv.php")
	require.NoError(t, err)
	want := "shmop_open as euid 0: opened\nshmop_open as euid 1000: refused\n" +
		"shmop_open as euid 0: opened\n"
	for name, o := range map[string]testenv.Opts{
		"native": {NewIPC: true},
		"goshm":  {NewIPC: true, Preload: true, Store: testenv.NewStore(t)},
	} {
		t.Run(name, func(t *testing.T) {
			r := testenv.Run(t, o, php, script, "creds", "0x50485004")
			require.Equal(t, 0, r.Code, r.String())
			assert.Equal(t, want, r.Stdout)
		})
	}
}
