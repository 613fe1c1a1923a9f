package testenv

// A clean Debian 12 image for the tests that install goshm's package the
// way an operator does (tests/install, the examples/docker recipe):
// debootstrap builds a minimal root file system from Debian's own
// packages, which `docker import` turns into an image.  No registry is
// involved.  The root file system is built once and kept as a tarball
// (DebianCache), so later runs only import it.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DebianCache is where the root file system's tarball is kept between
// runs, shared by every checkout on the machine.
const DebianCache = "/var/cache/goshm-tests"

// debianSuite is the release the images are, and the packages added to
// debootstrap's minimal set: man-db for `man goshm`.
const (
	debianSuite    = "bookworm"
	debianTarball  = "debian12-minbase-mandb.tar"
	debianIncludes = "man-db"
)

// DebianImage imports the clean Debian 12 root file system as a new image
// and returns its tag; the image is removed when the test ends.  The
// first call on a machine runs debootstrap (about a minute), under a lock
// so that parallel test packages build it once.
func DebianImage(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	tarball, err := debianRootfs()
	if err != nil {
		t.Fatalf("debian image: %v", err)
	}
	tag := DockerName("debian12")
	RemoveImageWhenDone(t, tag)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "import",
		"--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"--change", "ENV LANG=C.UTF-8",
		"--change", `CMD ["/bin/bash"]`,
		tarball, tag).CombinedOutput()
	if err != nil {
		t.Fatalf("docker import %s: %v: %s", tarball, err, out)
	}
	return tag
}

// debianRootfs returns the cached tarball, building it first if needed.
func debianRootfs() (string, error) {
	if err := os.MkdirAll(DebianCache, 0o755); err != nil {
		return "", err
	}
	tarball := filepath.Join(DebianCache, debianTarball)
	lock, err := os.OpenFile(tarball+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	if _, err := os.Stat(tarball); err == nil {
		return tarball, nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "", fmt.Errorf("debootstrap is missing (Debian package debootstrap; scripts/test-deps.sh installs it)")
	}
	mirror, err := DebianMirror()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(DebianCache, "rootfs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	root := filepath.Join(dir, "root")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "debootstrap", "--variant=minbase",
		"--include="+debianIncludes, debianSuite, root, mirror).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("debootstrap %s from %s: %w: %s", debianSuite, mirror, err, tail(out))
	}
	// The downloaded packages are installed: not needed in the image.
	debs, _ := filepath.Glob(filepath.Join(root, "var/cache/apt/archives/*.deb"))
	for _, d := range debs {
		if err := os.Remove(d); err != nil {
			return "", err
		}
	}
	tmp := filepath.Join(dir, "rootfs.tar")
	out, err = exec.CommandContext(ctx, "tar", "-C", root, "--numeric-owner", "-cf", tmp, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("tar %s: %w: %s", root, err, out)
	}
	if err := os.Rename(tmp, tarball); err != nil {
		return "", err
	}
	return tarball, nil
}

// DebianMirror is the Debian archive that apt on this machine uses (the
// first non-security URI of /etc/apt/sources.list and sources.list.d),
// else deb.debian.org.
func DebianMirror() (string, error) {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append([]string{"/etc/apt/sources.list"}, files...)
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			var uris []string
			switch {
			case len(fields) >= 2 && fields[0] == "URIs:": // deb822 .sources
				uris = fields[1:]
			case len(fields) >= 3 && fields[0] == "deb": // one-line format
				for _, f := range fields[1:] {
					if !strings.HasPrefix(f, "[") && !strings.HasSuffix(f, "]") {
						uris = append(uris, f)
						break
					}
				}
			}
			for _, u := range uris {
				if strings.Contains(u, "://") && !strings.Contains(u, "security") {
					f.Close()
					return u, nil
				}
			}
		}
		f.Close()
	}
	return "http://deb.debian.org/debian", nil
}

// tail is the end of a long command output, for an error message.
func tail(out []byte) string {
	const max = 2000
	if len(out) > max {
		return "..." + string(out[len(out)-max:])
	}
	return string(out)
}
