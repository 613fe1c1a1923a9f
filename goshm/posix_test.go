package goshm_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// POSIX objects through the Go API: OpenPOSIX is shm_open on the store,
// the file maps and truncates like /dev/shm's, ListPOSIX and StatPOSIX
// see it, RemovePOSIX is shm_unlink.
func TestPOSIXObjects(t *testing.T) {
	st := newStore(t)
	objs, err := st.ListPOSIX()
	require.NoError(t, err)
	assert.Empty(t, objs, "a store that does not exist holds no object")

	_, err = st.OpenPOSIX("/gone", os.O_RDWR, 0)
	assert.True(t, errors.Is(err, syscall.ENOENT), "%v", err)
	_, err = st.OpenPOSIX("/a/b", os.O_RDWR|os.O_CREATE, 0o600)
	assert.True(t, errors.Is(err, syscall.EINVAL), "%v", err)

	f, err := st.OpenPOSIX("/obj", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Truncate(8192))
	b, err := unix.Mmap(int(f.Fd()), 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	require.NoError(t, err)
	copy(b, "kept")
	require.NoError(t, unix.Munmap(b))

	_, err = st.OpenPOSIX("obj", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	assert.True(t, errors.Is(err, syscall.EEXIST), "%v", err)

	data, err := os.ReadFile(filepath.Join(st.Dir(), "posix", "obj"))
	require.NoError(t, err)
	assert.Equal(t, "kept", string(data[:4]))

	objs, err = st.ListPOSIX()
	require.NoError(t, err)
	require.Len(t, objs, 1)
	o := objs[0]
	assert.Equal(t, "/obj", o.Name)
	assert.EqualValues(t, 8192, o.Size)
	assert.Equal(t, os.FileMode(0o640)&^umask(), o.Mode)
	assert.EqualValues(t, os.Geteuid(), o.UID)
	assert.False(t, o.Damaged)

	so, err := st.StatPOSIX("obj")
	require.NoError(t, err)
	assert.Equal(t, o, *so)

	require.NoError(t, st.RemovePOSIX("/obj"))
	err = st.RemovePOSIX("/obj")
	assert.True(t, errors.Is(err, syscall.ENOENT), "%v", err)
	_, err = st.StatPOSIX("/obj")
	assert.True(t, errors.Is(err, syscall.ENOENT), "%v", err)
	fi, err := f.Stat()
	require.NoError(t, err)
	assert.EqualValues(t, 8192, fi.Size(), "the open file outlives its name, as in /dev/shm")
}

func umask() os.FileMode {
	m := unix.Umask(0)
	unix.Umask(m)
	return os.FileMode(m)
}

// What goshm never makes in posix/ is damage: listed as such, collected
// by CollectPOSIX; objects are never collected.
func TestPOSIXCollect(t *testing.T) {
	st := newStore(t)
	f, err := st.OpenPOSIX("/real", os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	f.Close()
	dir := filepath.Join(st.Dir(), "posix")
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "link")))
	require.NoError(t, unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600))

	objs, err := st.ListPOSIX()
	require.NoError(t, err)
	damaged := map[string]bool{}
	for _, o := range objs {
		damaged[o.Name] = o.Damaged
	}
	assert.Equal(t, map[string]bool{"/real": false, "/link": true, "/fifo": true}, damaged)

	got, err := st.CollectPOSIX(true)
	require.NoError(t, err)
	assert.Equal(t, []string{"/fifo", "/link"}, got)
	_, err = os.Lstat(filepath.Join(dir, "link"))
	require.NoError(t, err, "a dry run removes nothing")

	got, err = st.CollectPOSIX(false)
	require.NoError(t, err)
	assert.Equal(t, []string{"/fifo", "/link"}, got)
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, left, 1)
	assert.Equal(t, "real", left[0].Name())
	_, err = os.Stat("/etc/passwd")
	require.NoError(t, err, "the symlink's target is untouched")
}

// An object made through the Go API is the one a C program under the
// library opens with GOSHM_POSIX=1.
func TestPOSIXSharedWithC(t *testing.T) {
	root := repoRoot(t)
	lib := filepath.Join(root, "build", "libgoshm.so")
	probe := filepath.Join(root, "build", "tests", "posix_probe")
	for _, p := range []string{lib, probe} {
		_, err := os.Stat(p)
		require.NoError(t, err, "run make first")
	}
	st := newStore(t)
	f, err := st.OpenPOSIX("/fromgo", os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(4096))
	_, err = f.WriteAt([]byte("hello from Go"), 0)
	require.NoError(t, err)
	f.Close()

	cmd := exec.Command(probe, "get", "/fromgo")
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+lib, "GOSHM_POSIX=1", "GOSHM_DIR="+st.Dir())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "get /fromgo: size=4096 hello from Go\n", string(out))

	cmd = exec.Command(probe, "put", "/fromc", "hello from C")
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+lib, "GOSHM_POSIX=1", "GOSHM_DIR="+st.Dir())
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	f, err = st.OpenPOSIX("fromc", os.O_RDONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, 12)
	_, err = f.ReadAt(buf, 0)
	require.NoError(t, err)
	assert.Equal(t, "hello from C", string(buf))
	assert.True(t, strings.HasSuffix(f.Name(), "/posix/fromc"), f.Name())
}

func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		require.NotEqual(t, "/", dir, "no go.mod above")
		dir = filepath.Dir(dir)
	}
}
