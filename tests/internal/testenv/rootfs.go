package testenv

// Images without a registry: a root file system assembled from host files
// (our binaries, the shared libraries and the dynamic loader they need,
// found with ldd) and handed to `docker import` as a tar stream.  The tar
// is written here, so owners and modes (a 1777 directory, say) are exactly
// what the test asks for, whatever the host's umask.

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"
)

// Rootfs is a root file system under construction.
type Rootfs struct {
	entries map[string]rootfsEntry // by absolute path in the image
}

type rootfsEntry struct {
	src  string      // host file to copy (regular files)
	link string      // symlink target (symlinks)
	mode fs.FileMode // permission bits, with fs.ModeDir/ModeSymlink/ModeSticky
}

// NewRootfs returns a root file system with the directories every
// container needs: /proc, /sys, /dev and /etc (Docker mounts or writes
// into them) and a 1777 /tmp.
func NewRootfs() *Rootfs {
	r := &Rootfs{entries: map[string]rootfsEntry{}}
	for _, d := range []string{"/proc", "/sys", "/dev", "/etc"} {
		r.AddDir(d, 0o755)
	}
	r.AddDir("/tmp", 0o777|fs.ModeSticky)
	return r
}

// AddDir adds a directory with mode (permission bits and fs.ModeSticky).
func (r *Rootfs) AddDir(dst string, mode fs.FileMode) {
	r.entries[path.Clean(dst)] = rootfsEntry{mode: fs.ModeDir | mode}
}

// AddSymlink adds dst pointing to target.
func (r *Rootfs) AddSymlink(dst, target string) {
	r.entries[path.Clean(dst)] = rootfsEntry{link: target, mode: fs.ModeSymlink | 0o777}
}

// AddFile copies the host file src (following symlinks) to dst.
func (r *Rootfs) AddFile(dst, src string, mode fs.FileMode) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("rootfs: %s is not a regular file", src)
	}
	r.entries[path.Clean(dst)] = rootfsEntry{src: src, mode: mode}
	return nil
}

// AddProgram copies the executable src to dst with the shared libraries
// it loads.
func (r *Rootfs) AddProgram(dst, src string) error {
	if err := r.AddFile(dst, src, 0o755); err != nil {
		return err
	}
	return r.AddLibrariesOf(src)
}

// AddLibrariesOf copies, at their host paths, the shared libraries and the
// dynamic loader that ldd says src needs.  A static program needs none.
func (r *Rootfs) AddLibrariesOf(src string) error {
	libs, err := sharedLibraries(src)
	if err != nil {
		return err
	}
	for _, lib := range libs {
		if err := r.AddFile(lib, lib, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// sharedLibraries lists the absolute paths in `ldd src`: "name => /path
// (addr)" for libraries and "/path (addr)" for the loader; the vDSO has no
// path.
func sharedLibraries(src string) ([]string, error) {
	out, err := exec.Command("ldd", src).CombinedOutput()
	text := string(out)
	if err != nil {
		if strings.Contains(text, "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w: %s", src, err, text)
	}
	var libs []string
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("ldd %s: %s", src, strings.TrimSpace(line))
		}
		for _, f := range fields {
			if strings.HasPrefix(f, "/") {
				libs = append(libs, f)
				break
			}
		}
	}
	return libs, nil
}

// Import sends the file system to `docker import` as image tag, applying
// Dockerfile instructions such as "ENV PATH=/bin" (docker import -c).
func (r *Rootfs) Import(tag string, changes ...string) error {
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "-c", c)
	}
	args = append(args, "-", tag)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(r.WriteTar(pw)) }()
	_, err := DockerCommand(context.Background(), pr, args...)
	pr.Close()
	if err != nil {
		return fmt.Errorf("importing %s: %w", tag, err)
	}
	return nil
}

// WriteTar writes the file system as a tar stream, parents first, every
// entry owned by root.
func (r *Rootfs) WriteTar(w io.Writer) error {
	all := map[string]rootfsEntry{}
	for p, e := range r.entries {
		all[p] = e
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				if _, explicit := r.entries[d]; !explicit {
					all[d] = rootfsEntry{mode: fs.ModeDir | 0o755}
				}
			}
		}
	}
	names := make([]string, 0, len(all))
	for p := range all {
		names = append(names, p)
	}
	sort.Strings(names) // a parent sorts before what it holds
	tw := tar.NewWriter(w)
	mtime := time.Unix(0, 0)
	for _, p := range names {
		e := all[p]
		h := &tar.Header{Name: "." + p, Mode: int64(e.mode.Perm()), ModTime: mtime,
			Format: tar.FormatPAX}
		if e.mode&fs.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		switch {
		case e.mode&fs.ModeDir != 0:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case e.mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			h.Typeflag = tar.TypeReg
		}
		if err := writeEntry(tw, h, e.src); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeEntry(tw *tar.Writer, h *tar.Header, src string) error {
	if h.Typeflag != tar.TypeReg {
		return tw.WriteHeader(h)
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	h.Size = st.Size()
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("rootfs: %s: %w", h.Name, err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("rootfs: %s: %w", h.Name, err)
	}
	return nil
}
