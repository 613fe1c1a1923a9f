package install

import (
	"archive/zip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

const modulePath = "github.com/goshm/goshm"

// `go install github.com/goshm/goshm/cmd/goshm@vVERSION` as a Go user
// runs it, served by a module proxy (a file:// GOPROXY) that holds this
// checkout as that version; the other modules come from the local module
// cache, so no network is needed.  The installed tool reports the version
// and looks for the library where docs/OPERATORS.md says: beside itself,
// in ../lib, then the system's directories; with the library in ../lib it
// runs the write-up's program with the segment in the store.
func TestGoInstallAtVersion(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.Root(t)
	goBin := goCmd(t)
	version := "v" + goshmVersion(t)
	tmp := t.TempDir()

	proxy := filepath.Join(tmp, "proxy")
	writeModuleProxy(t, root, proxy, version)
	modcache := strings.TrimSpace(run(t, "", nil, goBin, "env", "GOMODCACHE"))
	prefix := filepath.Join(tmp, "prefix")
	gobin := filepath.Join(prefix, "bin")
	env := []string{
		"GOPROXY=file://" + proxy + ",file://" + filepath.Join(modcache, "cache", "download"),
		"GOSUMDB=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local",
		"GOMODCACHE=" + filepath.Join(tmp, "modcache"), "GOBIN=" + gobin,
	}
	work := filepath.Join(tmp, "elsewhere") // outside any module
	require.NoError(t, os.MkdirAll(work, 0o755))
	run(t, work, env, goBin, "install", modulePath+"/cmd/goshm@"+version)
	t.Cleanup(func() { run(t, work, env, goBin, "clean", "-modcache") })

	goshm := filepath.Join(gobin, "goshm")
	out := run(t, "", nil, goshm, "version")
	assert.True(t, strings.HasPrefix(out, "goshm "+strings.TrimPrefix(version, "v")+" "), out)
	if !strings.Contains(out, "library /") { // no libgoshm.so installed on this machine
		assert.Contains(t, out, "libgoshm.so not found (looked in "+
			filepath.Join(gobin, "libgoshm.so")+", "+filepath.Join(gobin, "..", "lib", "libgoshm.so")+
			", /usr/local/lib/libgoshm.so, /usr/lib/x86_64-linux-gnu/libgoshm.so, /usr/lib/libgoshm.so)")
	}

	// The library where make install puts it relative to the tool.
	lib := filepath.Join(prefix, "lib", "libgoshm.so")
	require.NoError(t, os.MkdirAll(filepath.Dir(lib), 0o755))
	run(t, "", nil, "cp", testenv.CLib(t), lib)
	out = run(t, "", nil, goshm, "version")
	assert.Contains(t, out, "library "+lib+": C build (no Go runtime)")

	store := testenv.NewStore(t)
	w := testenv.Run(t, testenv.Opts{Store: store, NewIPC: true},
		goshm, "run", "--", testenv.Artifact(t, "legacy/systemv_shm_wr"))
	require.Equal(t, 0, w.Code, w.String())
	r := testenv.Run(t, testenv.Opts{Store: store, NewIPC: true},
		goshm, "run", "--", testenv.Artifact(t, "legacy/systemv_shm_rd"))
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, alphabet)
}

// writeModuleProxy lays out a GOPROXY directory serving the checkout's
// tracked files as modulePath@version.
func writeModuleProxy(t *testing.T, root, proxy, version string) {
	t.Helper()
	dir := filepath.Join(proxy, modulePath, "@v")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "list"), []byte(version+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, version+".info"),
		[]byte(`{"Version":"`+version+`","Time":"2026-01-01T00:00:00Z"}`), 0o644))
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, version+".mod"), mod, 0o644))

	f, err := os.Create(filepath.Join(dir, version+".zip"))
	require.NoError(t, err)
	defer f.Close()
	zw := zip.NewWriter(f)
	files := strings.Split(strings.TrimSpace(run(t, root, nil, "git", "ls-files")), "\n")
	require.NotEmpty(t, files)
	for _, name := range files {
		src, err := os.Open(filepath.Join(root, name))
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet committed
		}
		require.NoError(t, err)
		w, err := zw.Create(modulePath + "@" + version + "/" + name)
		require.NoError(t, err)
		_, err = io.Copy(w, src)
		src.Close()
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
}
