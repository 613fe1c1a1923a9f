package crash

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The disk the stores live on, and how it is copied as a power cut leaves
// it.
//
// The stores are on an ext4 file system (with its journal, as mkfs.ext4
// makes it) on a loop device, whose backing file is the "disk".  What a
// power cut leaves is that file as it is at one instant, while the file
// system is mounted and written: every write the loop device finished, none
// of the dirty pages the page cache above it still held.  A plain cp or dd
// of the file is not that: it reads the file front to back while it keeps
// changing, and may pair an old inode table with a journal that has
// already moved on -- a disk no power cut can leave.  So the backing file
// lives on XFS (itself on a loop device over a tmpfs), and the copy is a
// reflink (FICLONE): XFS takes the file's locks, and no write of the loop
// device can come between its first and its last block.
type disk struct {
	t     *testing.T
	dir   string // a tmpfs
	xfs   string // the XFS mount, on dir/xfs.img
	image string // the ext4 image on xfs: the disk
	mnt   string // the ext4 mount: the stores
}

// tools the test runs; a missing one fails the test (it never skips).
var tools = []string{"losetup", "mount", "umount", "mkfs.ext4", "e2fsck", "mkfs.xfs", "unshare"}

func requireTools(t *testing.T) {
	t.Helper()
	for _, name := range tools {
		if _, err := exec.LookPath(name); err != nil {
			t.Fatalf("the power-cut test needs %s (util-linux, e2fsprogs, xfsprogs; .ci/run installs them): %v",
				name, err)
		}
	}
}

// sh runs a command and fails the test when it fails.
func sh(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := shErr(timeout, name, args...)
	require.NoError(t, err, "%s %s\n%s", name, strings.Join(args, " "), out)
	return out
}

func shErr(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// unmount unmounts mnt (and frees its loop device, mounted with -o loop);
// lazily if it is still busy, so that a failed test leaves no mount.
func unmount(t *testing.T, mnt string) {
	if out, err := shErr(time.Minute, "umount", mnt); err != nil {
		t.Logf("umount %s: %v %s; unmounting lazily", mnt, err, out)
		if out, err := shErr(time.Minute, "umount", "-l", mnt); err != nil {
			t.Errorf("umount -l %s: %v %s", mnt, err, out)
		}
	}
}

// newDisk makes the tmpfs, the XFS and the ext4, each unmounted again when
// the test ends, even when it fails.  The ext4 commits its journal every
// commit seconds.
func newDisk(t *testing.T, size int64, commit int) *disk {
	t.Helper()
	dir, err := os.MkdirTemp("", "goshm-crash-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &disk{t: t, dir: dir, xfs: filepath.Join(dir, "xfs"), mnt: filepath.Join(dir, "ext4")}
	sh(t, time.Minute, "mount", "-t", "tmpfs", "-o", "size=2g,mode=0755", "goshm-crash", dir)
	t.Cleanup(func() { unmount(t, dir) })

	xfsImage := filepath.Join(dir, "xfs.img")
	require.NoError(t, os.WriteFile(xfsImage, nil, 0o600))
	require.NoError(t, os.Truncate(xfsImage, 1<<30))
	sh(t, 2*time.Minute, "mkfs.xfs", "-q", "-f", "-m", "reflink=1", xfsImage)
	require.NoError(t, os.Mkdir(d.xfs, 0o755))
	sh(t, time.Minute, "mount", "-t", "xfs", "-o", "loop", xfsImage, d.xfs)
	t.Cleanup(func() { unmount(t, d.xfs) })

	d.image = filepath.Join(d.xfs, "disk.img")
	require.NoError(t, os.WriteFile(d.image, nil, 0o600))
	require.NoError(t, os.Truncate(d.image, size))
	sh(t, 2*time.Minute, "mkfs.ext4", "-q", "-F", d.image)
	require.NoError(t, os.Mkdir(d.mnt, 0o755))
	sh(t, time.Minute, "mount", "-t", "ext4", "-o", "loop,commit="+strconv.Itoa(commit), d.image, d.mnt)
	t.Cleanup(func() { unmount(t, d.mnt) })
	return d
}

// monotonic is CLOCK_MONOTONIC in nanoseconds, the writers' clock.
func monotonic(t *testing.T) int64 {
	var ts unix.Timespec
	require.NoError(t, unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts))
	return ts.Nano()
}

// cut copies the disk as a power cut leaves it, to name in the XFS, at the
// instant ready returns (nil: now), and says when the copy was taken.
func (d *disk) cut(name string, ready func()) (string, cutTimes) {
	t := d.t
	t.Helper()
	src, err := os.Open(d.image)
	require.NoError(t, err)
	defer src.Close()
	path := filepath.Join(d.xfs, name)
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	require.NoError(t, err)
	defer dst.Close()
	// What the loop device wrote so far goes to XFS's disk first, so
	// that the clone, which does the same with the file locked, holds the
	// lock for as short a time as it can: the cut is then close to one
	// instant between start and end.
	require.NoError(t, src.Sync())
	if ready != nil {
		ready()
	}
	var c cutTimes
	c.start = monotonic(t)
	err = unix.IoctlFileClone(int(dst.Fd()), int(src.Fd()))
	c.end = monotonic(t)
	require.NoError(t, err, "FICLONE of %s", d.image)
	return path, c
}

// mountCopy checks the file system of a copy with e2fsck -fy, which must
// leave it whole (exit status 0 or 1), and mounts it read-write (goshm
// repairs the store on its first use); it is unmounted when unmount is
// called or the test ends.
func (d *disk) mountCopy(image string) (mnt string, fsck string, unmountCopy func()) {
	t := d.t
	t.Helper()
	out, err := shErr(2*time.Minute, "e2fsck", "-fy", image)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("e2fsck: %v", err)
	}
	require.LessOrEqual(t, code, 1, "e2fsck -fy of the copy could not make it whole:\n%s", out)
	mnt = strings.TrimSuffix(image, ".img") + ".mnt"
	require.NoError(t, os.Mkdir(mnt, 0o755))
	sh(t, time.Minute, "mount", "-t", "ext4", "-o", "loop", image, mnt)
	done := false
	unmountCopy = func() {
		if !done {
			done = true
			unmount(t, mnt)
		}
	}
	t.Cleanup(unmountCopy)
	return mnt, "e2fsck exit " + strconv.Itoa(code), unmountCopy
}

// fakeReboot makes the store's registry say that it was last used on
// another boot.  The engine repairs a store only at its first use after a
// reboot, which it recognises by the header's boot_id (docs/FORMAT.md,
// offset 1144): the copy was taken on this boot, and a power cut is always
// followed by a reboot.
func fakeReboot(t *testing.T, store string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(store, "registry"), os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt([]byte("boot before cut!"), regBootIDOff)
	require.NoError(t, err)
}

// regBootIDOff is the offset of the registry header's boot_id.
const regBootIDOff = 1144

// setSysctl sets a sysctl for the test and restores it when the test ends.
func setSysctl(t *testing.T, name, value string) {
	t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	old, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(value), 0o644), "set %s", name)
	t.Cleanup(func() {
		if err := os.WriteFile(path, old, 0o644); err != nil {
			t.Errorf("restore %s: %v", name, err)
		}
	})
}

// exclusive waits until no other power-cut test runs on this machine, and
// holds that until the test ends: the test changes sysctls of the whole
// machine, and two at once would restore each other's values.
func exclusive(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile("/run/goshm-crash-test.lock", os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		t.Logf("waiting for another power-cut test on this machine to end")
		require.NoError(t, unix.Flock(int(f.Fd()), unix.LOCK_EX))
	}
	t.Cleanup(func() { f.Close() })
}
