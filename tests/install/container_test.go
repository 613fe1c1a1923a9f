package install

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

const alphabet = "a b c d e f g h i j k l m n o p q r s t u v w x y z"

// snapshotCmd lists every path of the container's root file system except
// what apt, dpkg, man-db and the test itself change for reasons of their
// own (caches, logs, dpkg's database, /tmp), and the store's volume.
const snapshotCmd = `find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp ` +
	`-o -path /run -o -path /var/cache -o -path /var/log -o -path /var/lib/dpkg ` +
	`-o -path /var/lib/apt -o -path /var/lib/goshm \) -prune -o -printf '%y %p\n' | sort`

// The operator's path, in a clean Debian 12 made by debootstrap and
// imported into Docker: apt-get install ./goshm_*.deb; the write-up's
// program under goshm run keeps its segment across docker restart (where
// the kernel's copy of the same segment is lost); man goshm renders;
// goshm doctor passes; apt-get purge leaves nothing behind.
func TestDebianPackageInCleanContainer(t *testing.T) {
	testenv.RequireDocker(t)
	requireTools(t, "debootstrap")
	deb := buildDeb(t)
	version := goshmVersion(t)
	image := testenv.DebianImage(t)

	vol := testenv.NewVolume(t)
	ctr := testenv.StartContainer(t, "-v", vol+":/var/lib/goshm", image,
		"sh", "-c", `trap "exit 0" TERM; while :; do sleep 1; done`)
	exec := func(argv ...string) testenv.Result {
		t.Helper()
		return testenv.Docker(t, append([]string{"exec", "-e", "MANWIDTH=80", ctr}, argv...)...)
	}
	mustExec := func(argv ...string) string {
		t.Helper()
		r := exec(argv...)
		require.Equal(t, 0, r.Code, "%s: %s", strings.Join(argv, " "), r)
		return r.Stdout
	}
	before := mustExec("sh", "-c", snapshotCmd)
	require.Contains(t, before, "d /usr/bin\n")
	// The store is the volume, there before the package: postinst leaves
	// it as it is.
	storeMode := mustExec("stat", "-c", "%a %U:%G", "/var/lib/goshm")

	testenv.MustDocker(t, "cp", deb, ctr+":/tmp/")
	for _, prog := range []string{"systemv_shm_wr", "systemv_shm_rd"} {
		testenv.MustDocker(t, "cp", testenv.Artifact(t, "legacy/"+prog), ctr+":/tmp/"+prog)
	}
	out := mustExec("sh", "-c", "cd /tmp && apt-get install -y ./goshm_*.deb")
	assert.Contains(t, out, "Setting up goshm ("+version+")")
	// The snapshot sees what the package installs.
	installed := lineDiff(before, mustExec("sh", "-c", snapshotCmd))
	assert.Contains(t, installed, "+ f /usr/bin/goshm")
	assert.Contains(t, installed, "+ l /usr/lib/x86_64-linux-gnu/libgoshm.so.0")
	assert.Contains(t, installed, "+ f /usr/lib/x86_64-linux-gnu/goshm/musl/libgoshm.so")
	assert.Equal(t, storeMode, mustExec("stat", "-c", "%a %U:%G", "/var/lib/goshm"),
		"postinst changed an existing store")

	v := mustExec("goshm", "version")
	assert.True(t, strings.HasPrefix(v, "goshm "+version+" "), v)
	assert.Contains(t, v, "library /usr/lib/x86_64-linux-gnu/libgoshm.so: C build (no Go runtime)")

	// The same program writes its segment twice: natively (the kernel's
	// segment) and under goshm (the store's).
	w := exec("goshm", "run", "--", "/tmp/systemv_shm_wr")
	require.Equal(t, 0, w.Code, w.String())
	require.Contains(t, w.Stdout, "SystemV Share Memory Create and Write Ok")
	w = exec("/tmp/systemv_shm_wr")
	require.Equal(t, 0, w.Code, w.String())

	testenv.MustDocker(t, "restart", "-t", "10", ctr)

	r := exec("/tmp/systemv_shm_rd")
	assert.Equal(t, 1, r.Code, "the kernel's segment died with the IPC namespace: %s", r)
	assert.Contains(t, r.Stdout, "SystemV Share Memory Create and Read Error: -1")
	r = exec("goshm", "run", "--", "/tmp/systemv_shm_rd")
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, alphabet, strings.TrimSpace(strings.SplitN(r.Stdout, "\n", 2)[0]), r.String())
	assert.Contains(t, r.Stdout, "SystemV Share Memory Create and Read Ok")
	ls := mustExec("goshm", "ls")
	assert.Regexp(t, `(?m)^0x0000162e\s+0\s+root\s+666\s+27\s+0\s*$`, ls)

	page := exec("man", "--warnings", "goshm")
	require.Equal(t, 0, page.Code, page.String())
	assert.Empty(t, page.Stderr, "man --warnings goshm")
	assert.Regexp(t, `goshm (—|--) run and inspect persistent System V shared memory stores`, page.Stdout)
	assert.Contains(t, page.Stdout, "goshm run [--dir dir] [--lib path | name] -- command [args ...]")
	page = exec("man", "libgoshm")
	require.Equal(t, 0, page.Code, page.String())
	assert.Contains(t, page.Stdout, "GOSHM_DIR")

	d := exec("goshm", "doctor")
	assert.Equal(t, 0, d.Code, "goshm doctor: %s", d)
	assert.NotContains(t, d.Stdout, "FAIL")
	assert.Regexp(t, `(?m)^OK\s+library\s+/usr/lib/x86_64-linux-gnu/libgoshm\.so `, d.Stdout)
	assert.Regexp(t, `(?m)^OK\s+registry\s+1 segment`, d.Stdout)

	files := strings.Fields(mustExec("dpkg", "-L", "goshm"))
	require.Contains(t, files, "/usr/bin/goshm")
	storeFiles := mustExec("find", "/var/lib/goshm", "-type", "f")
	require.Contains(t, storeFiles, "/var/lib/goshm/registry\n")
	p := exec("apt-get", "purge", "-y", "goshm")
	require.Equal(t, 0, p.Code, p.String())
	assert.Contains(t, p.Stdout, "Removing goshm ("+version+")")
	// The store and its segment stay: the package never deletes data.
	assert.Contains(t, p.Stdout+p.Stderr, "goshm: kept /var/lib/goshm")
	assert.Equal(t, storeFiles, mustExec("find", "/var/lib/goshm", "-type", "f"), "the store after purge")

	st := exec("dpkg", "-s", "goshm")
	assert.NotEqual(t, 0, st.Code, "dpkg still knows goshm: %s", st)
	assert.NotContains(t, mustExec("ldconfig", "-p"), "libgoshm")
	assert.NotEqual(t, 0, exec("sh", "-c", "command -v goshm").Code, "goshm is still on PATH")
	after := mustExec("sh", "-c", snapshotCmd)
	assert.Empty(t, lineDiff(before, after), "the file system after purge differs from before install")
	for _, f := range files {
		if strings.Contains(filepath.Base(f), "goshm") {
			assert.NotContains(t, after, " "+f+"\n", "left behind: %s", f)
		}
	}
}

// The package and the default store, /var/lib/goshm, in a clean Debian 12
// container without a volume there: install makes it with mode 1777 and
// goshm uses it; remove and purge keep it and the segment in it (the
// data is never the package's to delete); purged with an empty store,
// the package takes the directory it made away.
func TestDebianPackageDefaultStore(t *testing.T) {
	testenv.RequireDocker(t)
	requireTools(t, "debootstrap")
	deb := buildDeb(t)
	image := testenv.DebianImage(t)
	ctr := testenv.StartContainer(t, image, "sh", "-c", `trap "exit 0" TERM; while :; do sleep 1; done`)
	exec := func(argv ...string) testenv.Result {
		t.Helper()
		return testenv.Docker(t, append([]string{"exec", ctr}, argv...)...)
	}
	mustExec := func(argv ...string) string {
		t.Helper()
		r := exec(argv...)
		require.Equal(t, 0, r.Code, "%s: %s", strings.Join(argv, " "), r)
		return r.Stdout
	}
	testenv.MustDocker(t, "cp", deb, ctr+":/tmp/")
	for _, prog := range []string{"systemv_shm_wr", "systemv_shm_rd"} {
		testenv.MustDocker(t, "cp", testenv.Artifact(t, "legacy/"+prog), ctr+":/tmp/"+prog)
	}
	require.NotEqual(t, 0, exec("test", "-e", "/var/lib/goshm").Code, "the image has no store yet")

	mustExec("sh", "-c", "cd /tmp && apt-get install -y ./goshm_*.deb")
	assert.Equal(t, "1777 root:root directory\n", mustExec("stat", "-c", "%a %U:%G %F", "/var/lib/goshm"))
	w := exec("goshm", "run", "--", "/tmp/systemv_shm_wr")
	require.Equal(t, 0, w.Code, w.String())
	storeFiles := mustExec("find", "/var/lib/goshm", "-type", "f")
	require.Contains(t, storeFiles, "/var/lib/goshm/registry\n")

	mustExec("apt-get", "remove", "-y", "goshm")
	assert.Equal(t, storeFiles, mustExec("find", "/var/lib/goshm", "-type", "f"), "the store after remove")
	p := exec("apt-get", "purge", "-y", "goshm")
	require.Equal(t, 0, p.Code, p.String())
	assert.Contains(t, p.Stdout+p.Stderr, "goshm: kept /var/lib/goshm")
	assert.Equal(t, storeFiles, mustExec("find", "/var/lib/goshm", "-type", "f"), "the store after purge")

	// The segment is still there for the next install to serve.
	mustExec("sh", "-c", "cd /tmp && apt-get install -y ./goshm_*.deb")
	r := exec("goshm", "run", "--", "/tmp/systemv_shm_rd")
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, alphabet, strings.TrimSpace(strings.SplitN(r.Stdout, "\n", 2)[0]), r.String())

	// The operator empties the store; purge then removes the directory.
	mustExec("sh", "-c", "rm -rf /var/lib/goshm/* /var/lib/goshm/.[!.]*")
	p = exec("apt-get", "purge", "-y", "goshm")
	require.Equal(t, 0, p.Code, p.String())
	assert.NotContains(t, p.Stdout+p.Stderr, "kept /var/lib/goshm")
	assert.NotEqual(t, 0, exec("test", "-e", "/var/lib/goshm").Code, "an empty store stays after purge")
}

// lineDiff lists the lines only in a ("-") and only in b ("+").
func lineDiff(a, b string) []string {
	count := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(b, "\n") {
		count[l]--
	}
	var out []string
	for l, n := range count {
		switch {
		case n > 0:
			out = append(out, "- "+l)
		case n < 0:
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return out
}
