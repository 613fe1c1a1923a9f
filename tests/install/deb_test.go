package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

var (
	debOnce sync.Once
	debPath string
	debErr  string
)

// buildDeb runs `make deb` once for the package's tests, into a
// directory of its own (DEB_OUT), and returns the package's path.
func buildDeb(t *testing.T) string {
	t.Helper()
	requireTools(t, "make", "dpkg-deb", "dpkg-shlibdeps")
	debOnce.Do(func() {
		out := filepath.Join(testenv.Root(t), "build", "tests-install-deb")
		cmd := exec.Command(makeCmd(), "-s", "deb", "DEB_OUT="+out)
		cmd.Dir = testenv.Root(t)
		b, err := cmd.CombinedOutput()
		if err != nil {
			debErr = "make deb: " + err.Error() + "\n" + string(b)
			return
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		debPath = lines[len(lines)-1]
		if !filepath.IsAbs(debPath) {
			debPath = filepath.Join(testenv.Root(t), debPath)
		}
	})
	require.Empty(t, debErr)
	return debPath
}

// `make deb` builds goshm_VERSION_ARCH.deb whose version is what `goshm
// version` prints, with the library in the multiarch directory, the
// development files, the musl build, the tool, compressed man pages and
// the docs, maintainer scripts for the default store, and lintian finds
// no error in it.
func TestDebianPackage(t *testing.T) {
	testenv.RequireRoot(t)
	requireTools(t, "lintian", "dpkg-architecture")
	deb := buildDeb(t)
	version := goshmVersion(t)
	arch := strings.TrimSpace(run(t, "", nil, "dpkg-architecture", "-qDEB_HOST_ARCH"))
	multiarch := strings.TrimSpace(run(t, "", nil, "dpkg-architecture", "-qDEB_HOST_MULTIARCH"))
	assert.Equal(t, "goshm_"+version+"_"+arch+".deb", filepath.Base(deb))

	field := func(name string) string {
		return strings.TrimSpace(run(t, "", nil, "dpkg-deb", "--field", deb, name))
	}
	assert.Equal(t, "goshm", field("Package"))
	assert.Equal(t, version, field("Version"), "the package's version is goshm version's")
	assert.Regexp(t, `^libc6 \(>= 2\.\d+\)$`, field("Depends"))

	contents := map[string]string{} // path -> "l target" or mode
	for _, line := range strings.Split(strings.TrimSpace(run(t, "", nil, "dpkg-deb", "--contents", deb)), "\n") {
		f := strings.Fields(line)
		require.GreaterOrEqual(t, len(f), 6, line)
		p := strings.TrimPrefix(f[5], ".")
		if strings.HasPrefix(f[0], "l") {
			contents[p] = "-> " + f[7]
		} else {
			contents[p] = f[0]
		}
	}
	lib := "/usr/lib/" + multiarch + "/"
	for p, want := range map[string]string{
		lib + "libgoshm.so." + version:                   "-rw-r--r--",
		lib + "libgoshm.so.0":                            "-> libgoshm.so." + version,
		lib + "libgoshm.so":                              "-> libgoshm.so.0",
		lib + "libgoshm-go.so":                           "-rw-r--r--",
		lib + "goshm/musl/libgoshm.so":                   "-rw-r--r--",
		"/usr/share/lintian/overrides/goshm":             "-rw-r--r--",
		lib + "pkgconfig/goshm.pc":                       "-rw-r--r--",
		lib + "cmake/goshm/goshmConfig.cmake":            "-rw-r--r--",
		lib + "cmake/goshm/goshmConfigVersion.cmake":     "-rw-r--r--",
		"/usr/include/goshm.h":                           "-rw-r--r--",
		"/usr/bin/goshm":                                 "-rwxr-xr-x",
		"/usr/share/man/man1/goshm.1.gz":                 "-rw-r--r--",
		"/usr/share/man/man7/libgoshm.7.gz":              "-rw-r--r--",
		"/usr/share/bash-completion/completions/goshm":   "-rw-r--r--",
		"/usr/share/doc/goshm/copyright":                 "-rw-r--r--",
		"/usr/share/doc/goshm/changelog.gz":              "-rw-r--r--",
		"/usr/share/doc/goshm/README.md":                 "-rw-r--r--",
		"/usr/share/doc/goshm/OPERATORS.md":              "-rw-r--r--",
		"/usr/share/doc/goshm/DIFFERENCES.md":            "-rw-r--r--",
		"/usr/share/doc/goshm/Dockerfile.source.example": "-rw-r--r--",
	} {
		assert.Equal(t, want, contents[p], p)
	}
	for p := range contents {
		// Not /var/lib/goshm: the store is the data's (postinst makes it).
		assert.True(t, p == "/" || strings.HasPrefix(p, "/usr/"), "%s: a package installs below /usr only", p)
	}
	ctrl := t.TempDir()
	run(t, "", nil, "dpkg-deb", "--control", deb, ctrl)
	for _, script := range []string{"postinst", "postrm"} {
		st, err := os.Stat(filepath.Join(ctrl, script))
		if assert.NoError(t, err, "the package's %s", script) {
			assert.Equal(t, os.FileMode(0o755), st.Mode().Perm(), script)
		}
		run(t, "", nil, "sh", "-n", filepath.Join(ctrl, script))
	}

	cmd := exec.Command("lintian", "--fail-on", "error", "--tag-display-limit", "0", deb)
	out, err := cmd.CombinedOutput()
	t.Logf("lintian %s:\n%s", filepath.Base(deb), out)
	assert.NoError(t, err, "lintian reports errors")
	for _, line := range strings.Split(string(out), "\n") {
		assert.False(t, strings.HasPrefix(line, "E: "), "lintian: %s", line)
	}
}
