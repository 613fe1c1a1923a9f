package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/goshm/goshm/goshm"
)

// checkTrust looks for what the engine refuses to follow -- symbolic links,
// hard links and files that are not regular inside the store -- and says
// who besides the caller controls the store (docs/SECURITY.md).
func (d *doctor) checkTrust() {
	if d.exists != d.dir {
		d.add("trust", statusOK, "no store yet")
		return
	}
	var fails, warns []string
	if fi, err := os.Lstat(d.dir); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		fails = append(fails, d.dir+" is a symlink")
	}
	owners := map[string]uint32{}
	if uid, ok := ownerOf(d.dir); ok {
		owners[d.dir] = uid
	}
	for _, name := range []string{"registry", "segments"} {
		p := filepath.Join(d.dir, name)
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			fails = append(fails, fmt.Sprintf("%s is a symlink (to %s)", p, target))
		case name == "segments" && !fi.IsDir():
			fails = append(fails, p+" is not a directory")
		case name == "registry" && !fi.Mode().IsRegular():
			fails = append(fails, p+" is not a regular file")
		default:
			owners[p] = fi.Sys().(*syscall.Stat_t).Uid
		}
	}
	fails = append(fails, strangeFiles(filepath.Join(d.dir, "segments"))...)
	if os.Geteuid() == 0 {
		for p, uid := range owners {
			if uid != 0 {
				warns = append(warns, fmt.Sprintf("uid %d owns %s: that user controls "+
					"every segment of the store, which root's programs trust", uid, p))
			}
		}
	}
	warns = append(warns, openParents(d.dir)...)
	switch {
	case len(fails) > 0:
		d.add("trust", statusFail, "%s: goshm refuses to follow it; remove it (a planted link?) "+
			"and see docs/SECURITY.md", strings.Join(fails, "; "))
	case len(warns) > 0:
		d.add("trust", statusWarn, "%s (docs/SECURITY.md)", strings.Join(warns, "; "))
	default:
		d.add("trust", statusOK, "no symbolic link, hard link or special file in the store")
	}
}

func ownerOf(p string) (uint32, bool) {
	fi, err := os.Lstat(p)
	if err != nil {
		return 0, false
	}
	return fi.Sys().(*syscall.Stat_t).Uid, true
}

// strangeFiles lists, in segments/, what no goshm call ever makes: symbolic
// links, hard links to a file that has other names, FIFOs, devices.
func strangeFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		switch st := fi.Sys().(*syscall.Stat_t); {
		case fi.Mode()&os.ModeSymlink != 0:
			out = append(out, p+" is a symlink")
		case !fi.Mode().IsRegular():
			out = append(out, fmt.Sprintf("%s is not a regular file (%v)", p, fi.Mode().Type()))
		case st.Nlink > 1:
			out = append(out, fmt.Sprintf("%s has %d hard links", p, st.Nlink))
		}
		if len(out) == 3 {
			return append(out, "...")
		}
	}
	return out
}

// openParents lists the store's parent directories that another user could
// use to replace the store: writable by group or others, not sticky.
func openParents(dir string) []string {
	var out []string
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil {
			m := fi.Mode()
			if m.Perm()&0o022 != 0 && m&os.ModeSticky == 0 {
				out = append(out, fmt.Sprintf("%s (a parent of the store) is writable by other "+
					"users and not sticky: they could replace the store", p))
			}
		}
		if p == "/" || p == "." {
			return out
		}
	}
}

// checkRouting says which System V calls the library serves and which it
// leaves to the kernel (GOSHM_KEYS), and what that means for processes
// outside goshm that share segments with the program.
func (d *doctor) checkRouting() {
	keys, err := goshm.Routing()
	switch {
	case err != nil:
		d.add("routing", statusFail, "%v: every call fails; write keys and ranges, "+
			"e.g. GOSHM_KEYS=0x5000-0x5fff,5678,private", err)
	case os.Getenv("GOSHM_KEYS") == "":
		d.add("routing", statusOK, "GOSHM_KEYS is unset: goshm serves every key and IPC_PRIVATE. "+
			"A process that does not use the store -- an X server attaching a client's "+
			"IPC_PRIVATE MIT-SHM segment, a sidecar attaching by key -- cannot attach them; "+
			"GOSHM_KEYS leaves the others to the kernel")
	default:
		private := "IPC_PRIVATE goes to the kernel (MIT-SHM works; those segments do not survive a restart)"
		if strings.Contains(keys, "private") {
			private = "IPC_PRIVATE is goshm's (an X server cannot attach those segments)"
		}
		d.add("routing", statusOK, "goshm serves keys %s; every other key goes to the kernel "+
			"and is lost at a restart; %s", strings.TrimSuffix(strings.TrimSuffix(keys, "private"), ","), private)
	}
}
