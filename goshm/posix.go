package goshm

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// POSIXDir is the directory of a store that holds its POSIX shared-memory
// objects (shm_open with GOSHM_POSIX), beside the System V segments.
const POSIXDir = "posix"

// POSIXObject is a POSIX shared-memory object of a store: what fstat says
// of the file <store>/posix/<name>.
type POSIXObject struct {
	Name    string      // as shm_open names it: "/" and the file's name
	Size    int64       // bytes (ftruncate)
	Mode    os.FileMode // permission bits
	UID     uint32      // owner
	GID     uint32      //
	ModTime time.Time   // last write (or ftruncate)
	// Damaged is set for an entry goshm never makes: not a regular file,
	// or a file with more than one link.  shm_open refuses a symlink
	// (ELOOP) and a directory (EINVAL); gc removes such entries.
	Damaged bool
}

// posixName is name without its leading slashes, or EINVAL for a name
// shm_open would refuse.
func posixName(name string) (string, error) {
	n := strings.TrimLeft(name, "/")
	if n == "" || strings.Contains(n, "/") || n == "." || n == ".." {
		return "", syscall.EINVAL
	}
	if len(n) > 255 {
		return "", syscall.ENAMETOOLONG
	}
	return n, nil
}

// openPOSIXDir opens <store>/posix without following a symlink on the
// way from the store directory (as the engine reaches it); ENOENT when the
// store has never held an object.
func (s *Store) openPOSIXDir() (int, error) {
	root, err := filepath.EvalSymlinks(s.Dir())
	if err != nil {
		return -1, err
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, filepath.Join(root, POSIXDir), &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_NO_SYMLINKS,
	})
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		fd, err = unix.Open(filepath.Join(root, POSIXDir),
			unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	}
	return fd, err
}

func posixObject(dfd int, name string) (POSIXObject, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return POSIXObject{}, err
	}
	return POSIXObject{
		Name:    "/" + name,
		Size:    st.Size,
		Mode:    os.FileMode(st.Mode & 0o777),
		UID:     st.Uid,
		GID:     st.Gid,
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
		Damaged: st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1,
	}, nil
}

// ListPOSIX lists the store's POSIX objects by name (none when the store
// or its posix/ directory does not exist).
func (s *Store) ListPOSIX() ([]POSIXObject, error) {
	dfd, err := s.openPOSIXDir()
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, s.opErr("list posix", -1, err)
	}
	dir := os.NewFile(uintptr(dfd), filepath.Join(s.Dir(), POSIXDir))
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, s.opErr("list posix", -1, err)
	}
	sort.Strings(names)
	out := make([]POSIXObject, 0, len(names))
	for _, n := range names {
		o, err := posixObject(dfd, n)
		if errors.Is(err, unix.ENOENT) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, s.opErr("stat posix "+n, -1, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// StatPOSIX is the object name ("/name"; leading slashes are optional, as
// for shm_open); ENOENT when there is none.
func (s *Store) StatPOSIX(name string) (*POSIXObject, error) {
	n, err := posixName(name)
	if err != nil {
		return nil, s.opErr("stat "+name, -1, err)
	}
	dfd, err := s.openPOSIXDir()
	if err != nil {
		return nil, s.opErr("stat "+name, -1, err)
	}
	defer unix.Close(dfd)
	o, err := posixObject(dfd, n)
	if err != nil {
		return nil, s.opErr("stat "+name, -1, err)
	}
	return &o, nil
}

// OpenPOSIX is shm_open(3) on this store, whether or not GOSHM_POSIX is
// set: flag is os.O_RDONLY or os.O_RDWR, with os.O_CREATE, os.O_EXCL and
// os.O_TRUNC; perm is the mode of a new object (the umask applies).  The
// file is what C programs under the library get from shm_open: Truncate
// sets its size, and syscall.Mmap maps it.
func (s *Store) OpenPOSIX(name string, flag int, perm os.FileMode) (*os.File, error) {
	fd, err := s.e.ShmOpen(name, flag, uint32(perm.Perm()))
	if err != nil {
		return nil, s.opErr("shm_open "+name, -1, err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(s.Dir(), POSIXDir, strings.TrimLeft(name, "/"))), nil
}

// RemovePOSIX is shm_unlink(3) on this store: the name goes at once, and
// the memory when the last descriptor and mapping of it go.
func (s *Store) RemovePOSIX(name string) error {
	if err := s.e.ShmUnlink(name); err != nil {
		return s.opErr("shm_unlink "+name, -1, err)
	}
	return nil
}

// CollectPOSIX removes (or with dryRun only lists) the entries of posix/
// that goshm never makes -- symlinks, devices, FIFOs, sockets, files with
// more than one link -- and returns their names.  Objects are never
// collected: nothing tells an object in use from a forgotten one, so
// they stay until shm_unlink or RemovePOSIX.  A directory is listed but
// left alone.
func (s *Store) CollectPOSIX(dryRun bool) ([]string, error) {
	objs, err := s.ListPOSIX()
	if err != nil || len(objs) == 0 {
		return nil, err
	}
	dfd, err := s.openPOSIXDir()
	if err != nil {
		return nil, s.opErr("gc posix", -1, err)
	}
	defer unix.Close(dfd)
	var out []string
	for _, o := range objs {
		if !o.Damaged {
			continue
		}
		out = append(out, o.Name)
		if dryRun {
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(dfd, o.Name[1:], &st, unix.AT_SYMLINK_NOFOLLOW) == nil &&
			st.Mode&unix.S_IFMT == unix.S_IFDIR {
			continue
		}
		if err := unix.Unlinkat(dfd, o.Name[1:], 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return out, s.opErr("gc posix "+o.Name, -1, err)
		}
	}
	return out, nil
}
