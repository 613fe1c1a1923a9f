package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func TestRunPreparesTheEnvironment(t *testing.T) {
	lib := builtLib(t)
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	env := map[string]string{
		"GOSHM_LIB":  lib,
		"GOSHM_DIR":  "/ignored/by/--dir",
		"LD_PRELOAD": "/opt/other.so " + lib + ":/opt/third.so",
		"KEEP":       "me",
	}
	r := goshmCmd(t, env, "run", "--dir", "relative/store", "--", "sh", "-c", "echo $$")
	require.Equal(t, 0, r.code, r.stderr)
	require.NotNil(t, r.exec)
	assert.Equal(t, sh, r.exec.path, "looked up in PATH")
	assert.Equal(t, []string{"sh", "-c", "echo $$"}, r.exec.argv)
	got := envMap(r.exec.env)
	assert.Equal(t, lib+":/opt/other.so:/opt/third.so", got["LD_PRELOAD"],
		"prepended once, the rest kept in order")
	wd, _ := os.Getwd()
	assert.Equal(t, filepath.Join(wd, "relative/store"), got["GOSHM_DIR"])
	assert.Equal(t, "me", got["KEEP"])
	assert.Len(t, r.exec.env, len(env), "no variable twice")

	// No LD_PRELOAD before; GOSHM_DIR from the environment.
	r = goshmCmd(t, map[string]string{"GOSHM_LIB": lib, "GOSHM_DIR": "/data/goshm"}, "run", "--", "true")
	require.Equal(t, 0, r.code, r.stderr)
	got = envMap(r.exec.env)
	assert.Equal(t, lib, got["LD_PRELOAD"])
	assert.Equal(t, "/data/goshm", got["GOSHM_DIR"])

	// Neither: the default store.
	r = goshmCmd(t, map[string]string{"GOSHM_LIB": lib}, "run", "--", "true")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "/var/lib/goshm", envMap(r.exec.env)["GOSHM_DIR"])
}

func TestRunFindsTheLibrary(t *testing.T) {
	lib := builtLib(t)
	data, err := os.ReadFile(lib)
	require.NoError(t, err)
	root := t.TempDir()
	for _, d := range []string{"bin", "lib", "same"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	beside := filepath.Join(root, "same", "libgoshm.so")
	under := filepath.Join(root, "lib", "libgoshm.so")
	explicit := filepath.Join(root, "explicit.so")
	for _, p := range []string{beside, under, explicit} {
		require.NoError(t, os.WriteFile(p, data, 0o755))
	}
	try := func(self string, env map[string]string, args ...string) result {
		return goshmCmdSelf(t, self, env, append([]string{"run"}, append(args, "--", "true")...)...)
	}
	r := try(filepath.Join(root, "same", "goshm"), nil)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, beside, envMap(r.exec.env)["LD_PRELOAD"], "next to the binary")
	r = try(filepath.Join(root, "bin", "goshm"), nil)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, under, envMap(r.exec.env)["LD_PRELOAD"], "in ../lib")
	r = try(filepath.Join(root, "bin", "goshm"), map[string]string{"GOSHM_LIB": explicit})
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, explicit, envMap(r.exec.env)["LD_PRELOAD"], "GOSHM_LIB first")
	r = try(filepath.Join(root, "bin", "goshm"), map[string]string{"GOSHM_LIB": explicit}, "--lib", beside)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, beside, envMap(r.exec.env)["LD_PRELOAD"], "--lib before all")

	// A file name is looked for where the default library is.
	goLib := filepath.Join(root, "lib", "libgoshm-go.so")
	require.NoError(t, os.WriteFile(goLib, data, 0o755))
	r = try(filepath.Join(root, "bin", "goshm"), nil, "--lib", "libgoshm-go.so")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, goLib, envMap(r.exec.env)["LD_PRELOAD"], "--lib NAME in ../lib")
	r = try(filepath.Join(root, "bin", "goshm"), map[string]string{"GOSHM_LIB": "libgoshm-go.so"})
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, goLib, envMap(r.exec.env)["LD_PRELOAD"], "GOSHM_LIB=NAME in ../lib")
	elsewhere := filepath.Join(t.TempDir(), "bin")
	r = try(filepath.Join(elsewhere, "goshm"), nil, "--lib", "libgoshm-go.so")
	if !systemLib("libgoshm-go.so") {
		assert.Equal(t, 1, r.code)
		assert.Nil(t, r.exec)
		assert.Equal(t, "goshm: run: library from --lib: libgoshm-go.so not found (looked in "+
			filepath.Join(elsewhere, "libgoshm-go.so")+", "+filepath.Join(elsewhere, "..", "lib", "libgoshm-go.so")+
			", /usr/local/lib/libgoshm-go.so, /usr/lib/"+multiarch[runtime.GOARCH]+"/libgoshm-go.so, /usr/lib/libgoshm-go.so)\n", r.stderr)
	}

	r = try(filepath.Join(root, "bin", "goshm"), map[string]string{"GOSHM_LIB": root + "/missing.so"})
	assert.Equal(t, 1, r.code)
	assert.Nil(t, r.exec)
	assert.Equal(t, "goshm: run: library from GOSHM_LIB: stat "+root+"/missing.so: no such file or directory\n", r.stderr)

	r = try(filepath.Join(root, "bin", "goshm"), nil, "--lib", "/etc/passwd")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "goshm: run: library /etc/passwd: ")

	if !systemLib("libgoshm.so") {
		r = try(filepath.Join(t.TempDir(), "goshm"), nil)
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "goshm: run: libgoshm.so not found (looked in ")
		assert.Contains(t, r.stderr, "give --lib PATH or set GOSHM_LIB")
	}
}

// goshmCmdSelf is goshmCmd with the path of the goshm binary set.
func goshmCmdSelf(t *testing.T, self string, env map[string]string, args ...string) result {
	t.Helper()
	old := executablePath
	executablePath = func() (string, error) { return self, nil }
	defer func() { executablePath = old }()
	return goshmCmd(t, env, args...)
}

// staticProgram builds a statically linked program with the C compiler.
func staticProgram(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "static.c")
	require.NoError(t, os.WriteFile(src, []byte("int main(void) { return 0; }\n"), 0o644))
	bin := filepath.Join(dir, "static")
	out, err := exec.Command("cc", "-static", "-o", bin, src).CombinedOutput()
	require.NoError(t, err, "cc -static (needs libc6-dev, from build-essential): %s", out)
	return bin
}

func TestRunRefusesWhatPreloadCannotReach(t *testing.T) {
	lib := builtLib(t)
	dir := t.TempDir()
	static := staticProgram(t, dir)
	env := map[string]string{"GOSHM_LIB": lib, "PATH": os.Getenv("PATH")}

	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o755))
		return p
	}
	refused := map[string]string{
		static: static + " is statically linked: LD_PRELOAD cannot reach it",
		script("static-interp.sh", "#!"+static+" -x\n"): "static-interp.sh: its interpreter: " + static +
			" is statically linked",
		script("text.txt", "just text\n"):                              "text.txt: neither an ELF program nor a #! script",
		script("loop.sh", "#!"+dir+"/loop.sh\n"):                       "too many levels of #! interpreters",
		script("noenv.sh", "#!/usr/bin/env -S nonexistent-prog-xyz\n"): "its #! runs nonexistent-prog-xyz",
	}
	for prog, msg := range refused {
		r := goshmCmd(t, env, "run", "--", prog)
		assert.Equal(t, 1, r.code, prog)
		assert.Nil(t, r.exec, prog)
		assert.True(t, strings.HasPrefix(r.stderr, "goshm: run: "), r.stderr)
		assert.Contains(t, r.stderr, msg, prog)
	}

	// Set-user-ID programs of another user run in secure mode.
	if os.Geteuid() == 0 {
		suid := filepath.Join(dir, "suid")
		data, err := os.ReadFile("/bin/true")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(suid, data, 0o755))
		require.NoError(t, os.Chown(suid, 1000, 1000))
		require.NoError(t, syscall.Chmod(suid, 0o4755))
		r := goshmCmd(t, env, "run", "--", suid)
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, suid+" is set-user-ID: the loader runs it in secure mode")
	}

	accepted := []string{
		"/bin/true",
		script("sh.sh", "#!/bin/sh\necho hi\n"),
		script("env.sh", "#!/usr/bin/env sh\necho hi\n"),
		script("envS.sh", "#!/usr/bin/env -S sh -e\necho hi\n"),
	}
	for _, prog := range accepted {
		r := goshmCmd(t, env, "run", "--", prog)
		assert.Equal(t, 0, r.code, "%s: %s", prog, r.stderr)
		require.NotNil(t, r.exec, prog)
		assert.Equal(t, prog, r.exec.path)
	}
}

// A program with file capabilities runs in secure mode for a caller who is
// not root, and the loader ignores LD_PRELOAD there: refused, as a
// set-user-ID program is.  For root it gains nothing, and is accepted.
func TestSecureExecFileCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("setting file capabilities needs root")
	}
	prog := filepath.Join(t.TempDir(), "capprog")
	data, err := os.ReadFile("/bin/true")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(prog, data, 0o755))
	fi, err := os.Stat(prog)
	require.NoError(t, err)
	require.NoError(t, checkSecureExec(prog, fi, 1000), "no capabilities yet")

	// struct vfs_cap_data, revision 2, effective, permitted
	// CAP_NET_BIND_SERVICE (bit 10): what setcap cap_net_bind_service+ep writes.
	capData := []byte{0x01, 0, 0, 0x02, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	require.NoError(t, unix.Setxattr(prog, "security.capability", capData, 0))

	err = checkSecureExec(prog, fi, 1000)
	require.Error(t, err)
	assert.Contains(t, err.Error(), prog+" has file capabilities (setcap): the loader runs it in secure mode")
	assert.NoError(t, checkSecureExec(prog, fi, 0), "root gains nothing from file capabilities")
}

// LD_PRELOAD is split at spaces and colons: a library whose path holds one
// would be skipped by the loader, so run refuses it.
func TestRunRefusesUnpreloadableLibraryPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "with space")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	lib := filepath.Join(dir, "libgoshm.so")
	data, err := os.ReadFile(builtLib(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(lib, data, 0o644))
	r := goshmCmd(t, map[string]string{"GOSHM_LIB": lib, "PATH": os.Getenv("PATH")}, "run", "--", "/bin/true")
	assert.Equal(t, 1, r.code)
	assert.Nil(t, r.exec)
	assert.Contains(t, r.stderr, "contains a space or a colon, which LD_PRELOAD cannot carry")
}
