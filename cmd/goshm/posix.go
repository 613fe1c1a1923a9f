package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goshm/goshm/goshm"
)

// POSIX shared-memory objects (shm_open with GOSHM_POSIX) live in the
// store's posix/ directory.  On the command line they are named as
// shm_open names them, with a leading slash, which no shmid has:
// `goshm stat /PostgreSQL.1234`, `goshm rm /psm_x`.

// isPOSIXName says whether a command argument names a POSIX object.
func isPOSIXName(arg string) bool { return strings.HasPrefix(arg, "/") }

// splitPOSIX separates POSIX names from the other arguments.
func splitPOSIX(args []string) (names, rest []string) {
	for _, a := range args {
		if isPOSIXName(a) {
			names = append(names, a)
		} else {
			rest = append(rest, a)
		}
	}
	return names, rest
}

// posixStore opens the store for its POSIX objects: unlike openStore, a
// store without a registry may hold some.  nil when the directory does
// not exist.
func (c *cli) posixStore() (*goshm.Store, error) {
	dir := c.storeDir()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return goshm.Open(dir)
}

func (c *cli) posixObjects() ([]goshm.POSIXObject, error) {
	st, err := c.posixStore()
	if err != nil || st == nil {
		return nil, err
	}
	return st.ListPOSIX()
}

// posixJSON is a POSIX object in --json output, beside the segments.
type posixJSON struct {
	Kind    string `json:"kind"` // "posix"
	Name    string `json:"name"`
	Path    string `json:"path"`
	UID     uint32 `json:"uid"`
	GID     uint32 `json:"gid"`
	Owner   string `json:"owner"`
	Perms   string `json:"perms"`
	Bytes   int64  `json:"bytes"`
	Mtime   int64  `json:"mtime"`
	Damaged bool   `json:"damaged"`
}

func (c *cli) posixToJSON(o *goshm.POSIXObject) posixJSON {
	return posixJSON{
		Kind: "posix", Name: o.Name, Path: c.posixPath(o.Name),
		UID: o.UID, GID: o.GID, Owner: userName(o.UID),
		Perms: fmt.Sprintf("%04o", uint32(o.Mode.Perm())), Bytes: o.Size,
		Mtime: epoch(o.ModTime), Damaged: o.Damaged,
	}
}

func (c *cli) posixPath(name string) string {
	return filepath.Join(c.storeDir(), goshm.POSIXDir, strings.TrimLeft(name, "/"))
}

// printPOSIXTable is ls's second table, printed when there are objects.
func (c *cli) printPOSIXTable(objs []goshm.POSIXObject) {
	if len(objs) == 0 {
		return
	}
	fmt.Fprintf(c.stdout, "\n------ POSIX Shared Memory Objects in %s --------\n",
		filepath.Join(c.storeDir(), goshm.POSIXDir))
	fmt.Fprintf(c.stdout, "%-24s %-10s %-10s %-12s %s\n", "name", "owner", "perms", "bytes", "status")
	for i := range objs {
		o := &objs[i]
		status := ""
		if o.Damaged {
			status = "damaged"
		}
		fmt.Fprintf(c.stdout, "%-24s %-10.10s %-10o %-12d %s\n", o.Name, userName(o.UID),
			uint32(o.Mode.Perm()), o.Size, status)
	}
}

func (c *cli) statPOSIX(name string) error {
	st, err := c.posixStore()
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("stat: no POSIX object %s", name)
	}
	o, err := st.StatPOSIX(name)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("stat: no POSIX object %s", name)
	}
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(c.posixToJSON(o))
	}
	w := c.stdout
	fmt.Fprintf(w, "POSIX shared memory object %s\n", o.Name)
	fmt.Fprintf(w, "path=%s\n", c.posixPath(o.Name))
	fmt.Fprintf(w, "uid=%d\tgid=%d\towner=%s\n", o.UID, o.GID, userName(o.UID))
	fmt.Fprintf(w, "mode=%#o\tbytes=%d\n", uint32(o.Mode.Perm()), o.Size)
	fmt.Fprintf(w, "change_time=%s\n", ctime(o.ModTime))
	if o.Damaged {
		fmt.Fprintf(w, "status=damaged (not a regular file with one link: goshm gc removes it)\n")
	}
	return nil
}

// removePOSIX is shm_unlink for each name; the results join rm's.
func (c *cli) removePOSIX(names []string, report func(r rmResult, msg, arg string)) error {
	if len(names) == 0 {
		return nil
	}
	st, err := c.posixStore()
	if err != nil {
		return err
	}
	for _, n := range names {
		r := rmResult{Name: n}
		if st == nil {
			report(r, "invalid POSIX name", n)
			continue
		}
		report(r, rmWords(st.RemovePOSIX(n), "POSIX name"), n)
	}
	return nil
}

// checkPOSIX is doctor's look at posix/ and at GOSHM_POSIX.
func (d *doctor) checkPOSIX() {
	setting := d.c.getenv("GOSHM_POSIX")
	served := "off (GOSHM_POSIX unset: shm_open uses /dev/shm)"
	switch setting {
	case "", "0":
	case "1":
		served = "on for every name (GOSHM_POSIX=1)"
	default:
		served = "on for names starting with " + setting
	}
	dir := filepath.Join(d.dir, goshm.POSIXDir)
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		d.add("posix", statusOK, "no POSIX objects yet; serving %s", served)
		return
	case err != nil:
		d.add("posix", statusFail, "%s: %v", dir, err)
		return
	case fi.Mode()&os.ModeSymlink != 0:
		d.add("posix", statusFail, "%s is a symbolic link, which goshm never follows: "+
			"shm_open fails with EACCES; remove it (docs/SECURITY.md)", dir)
		return
	case !fi.IsDir():
		d.add("posix", statusFail, "%s is not a directory: shm_open fails with EACCES; remove it", dir)
		return
	}
	objs, err := d.c.posixObjects()
	if err != nil {
		d.add("posix", statusFail, "%v", err)
		return
	}
	var bytes int64
	damaged := 0
	for _, o := range objs {
		bytes += o.Size
		if o.Damaged {
			damaged++
		}
	}
	switch {
	case damaged > 0:
		d.add("posix", statusWarn, "%d entries of %s are not objects goshm made; goshm gc removes them",
			damaged, dir)
	case fi.Mode().Perm() != 0o777 || fi.Mode()&os.ModeSticky == 0:
		d.add("posix", statusWarn, "%s has mode %o, not 1777 like /dev/shm: "+
			"other users may not create objects, or may remove theirs", dir, fi.Mode().Perm())
	default:
		d.add("posix", statusOK, "%d POSIX objects, %d bytes; serving %s", len(objs), bytes, served)
	}
}
