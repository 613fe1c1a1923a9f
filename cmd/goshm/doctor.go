package main

import (
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goshm/goshm/goshm"
)

func doctorFlags(c *cli, fs *flag.FlagSet) {
	fs.StringVar(&c.binary, "binary", "", "a program to check for goshm run")
	libFlag(c, fs)
}

// A check's outcome.
const (
	statusOK   = "OK"
	statusWarn = "WARN"
	statusFail = "FAIL"
)

type checkResult struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// doctor gathers the checks of one store.
type doctor struct {
	c       *cli
	dir     string // absolute
	exists  string // dir, or its nearest existing ancestor
	results []checkResult
}

func (d *doctor) add(name, status, format string, args ...any) {
	d.results = append(d.results, checkResult{name, status, fmt.Sprintf(format, args...)})
}

func (c *cli) cmdDoctor(args []string) error {
	if len(args) > 0 {
		return usagef("doctor: no arguments expected, got %q", args[0])
	}
	dir, err := filepath.Abs(c.storeDir())
	if err != nil {
		return err
	}
	d := &doctor{c: c, dir: dir}
	d.checkStore()
	d.checkTrust()
	d.checkRegistry()
	d.checkFilesystem()
	d.checkSpace()
	d.checkKernelLimits()
	d.checkSysV()
	d.checkEscapes()
	d.checkLeases()
	d.checkRouting()
	d.checkPOSIX()
	d.checkSemaphores()
	kind := d.checkLibrary()
	if c.binary != "" {
		d.checkBinary(kind)
	}

	failed := false
	for _, r := range d.results {
		failed = failed || r.Status == statusFail
	}
	if c.json {
		if err := c.printJSON(struct {
			Dir    string        `json:"dir"`
			OK     bool          `json:"ok"`
			Checks []checkResult `json:"checks"`
		}{dir, !failed, d.results}); err != nil {
			return err
		}
	} else {
		for _, r := range d.results {
			fmt.Fprintf(c.stdout, "%-5s %-11s %s\n", r.Status, r.Name, r.Message)
		}
	}
	if failed {
		return exitStatus(1)
	}
	return nil
}

// writable says whether this process may create files in dir.
func writable(dir string) bool {
	return unix.Faccessat(unix.AT_FDCWD, dir, unix.W_OK|unix.X_OK, unix.AT_EACCESS) == nil
}

func (d *doctor) checkStore() {
	fi, err := os.Stat(d.dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		anc := d.dir
		for {
			anc = filepath.Dir(anc)
			if _, err := os.Stat(anc); err == nil || anc == "/" {
				break
			}
		}
		d.exists = anc
		if writable(anc) {
			d.add("store", statusOK, "%s does not exist yet; the first shmget creates it (mode 1777)", d.dir)
		} else {
			d.add("store", statusFail, "%s does not exist and cannot be created: %s is not writable by uid %d; "+
				"create it with mode 1777 or mount a volume there", d.dir, anc, os.Geteuid())
		}
		return
	case err != nil:
		d.exists = filepath.Dir(d.dir)
		d.add("store", statusFail, "%s: %v", d.dir, err)
		return
	case !fi.IsDir():
		d.exists = filepath.Dir(d.dir)
		d.add("store", statusFail, "%s is not a directory", d.dir)
		return
	}
	d.exists = d.dir
	mode := fi.Mode() & (os.ModePerm | os.ModeSticky)
	octal := fmt.Sprintf("%04o", uint32(mode.Perm())|sticky(mode))
	segs := filepath.Join(d.dir, "segments")
	switch {
	case !writable(d.dir):
		d.add("store", statusFail, "%s is not writable by uid %d (mode %s); "+
			"give it mode 1777, like /dev/shm", d.dir, os.Geteuid(), octal)
	case dirExists(segs) && !writable(segs):
		d.add("store", statusFail, "%s is not writable by uid %d; give it mode 0777", segs, os.Geteuid())
	case mode.Perm() != 0o777:
		d.add("store", statusWarn, "%s is writable by uid %d but has mode %s, not 1777: "+
			"programs of other users cannot use it", d.dir, os.Geteuid(), octal)
	case octal != "1777":
		d.add("store", statusWarn, "%s has mode %s, not 1777: without the sticky bit any "+
			"user may delete or replace its registry", d.dir, octal)
	default:
		d.add("store", statusOK, "%s exists, mode 1777, writable by uid %d", d.dir, os.Geteuid())
	}
}

func sticky(m os.FileMode) uint32 {
	if m&os.ModeSticky != 0 {
		return 0o1000
	}
	return 0
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// store opens the store for the checks that read it, only if it has a
// registry (the doctor never creates one).
func (d *doctor) store() *goshm.Store {
	if _, err := os.Stat(filepath.Join(d.dir, "registry")); err != nil {
		return nil
	}
	st, err := goshm.Open(d.dir)
	if err != nil {
		return nil
	}
	return st
}

func (d *doctor) checkRegistry() {
	reg := filepath.Join(d.dir, "registry")
	if _, err := os.Stat(reg); errors.Is(err, os.ErrNotExist) {
		d.add("registry", statusOK, "none yet: the first shmget creates it")
		return
	}
	st := d.store()
	if st == nil {
		d.add("registry", statusFail, "%s cannot be opened", reg)
		return
	}
	info, err := st.Info()
	if err != nil {
		d.add("registry", statusFail, "%v", err)
		return
	}
	msg := fmt.Sprintf("%d segment(s) (highest index %d) of at most %d",
		info.UsedIDs, info.MaxIndex, info.Shmmni)
	if h, err := st.Health(); err == nil {
		msg += fmt.Sprintf("; format %d", h.FormatVersion)
		if h.Repairs > 0 {
			msg += fmt.Sprintf("; repaired after a reboot %d time(s), last at %s: "+
				"%d segment(s) that did not survive freed, %d file(s) removed",
				h.Repairs, time.Unix(h.RepairedAt, 0).UTC().Format(time.RFC3339),
				h.RepairedSlots, h.RepairedFiles)
		}
	}
	d.add("registry", statusOK, "%s", msg)
}

// fsNames are the statfs(2) magic numbers the checks care about.
var fsNames = map[int64]string{
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.RAMFS_MAGIC:           "ramfs",
	unix.OVERLAYFS_SUPER_MAGIC: "overlay",
	unix.NFS_SUPER_MAGIC:       "nfs",
}

func (d *doctor) checkFilesystem() {
	var sfs unix.Statfs_t
	if err := unix.Statfs(d.exists, &sfs); err != nil {
		d.add("filesystem", statusFail, "statfs %s: %v", d.exists, err)
		return
	}
	real, err := filepath.EvalSymlinks(d.exists)
	if err != nil {
		real = d.exists
	}
	info, _ := os.ReadFile("/proc/self/mountinfo")
	m, found := mountOf(parseMountinfo(string(info)), real)
	fstype := fsNames[int64(sfs.Type)]
	if found {
		fstype = m.FSType
	}
	where := fmt.Sprintf("%s is on %s", d.dir, fstype)
	if found {
		where += fmt.Sprintf(" (mounted at %s)", m.Point)
	}
	switch {
	case sfs.Type == unix.TMPFS_MAGIC || sfs.Type == unix.RAMFS_MAGIC:
		d.add("filesystem", statusWarn, "%s: in memory, lost on restart like the kernel's own "+
			"segments; put the store on a disk volume", where)
	case sfs.Type == unix.OVERLAYFS_SUPER_MAGIC || strings.Contains(fstype, "overlay") || fstype == "aufs":
		d.add("filesystem", statusWarn, "%s: a container's writable layer: "+
			"kept on restart, lost when the container is recreated; mount a volume on GOSHM_DIR", where)
	default:
		d.add("filesystem", statusOK, "%s", where)
	}
}

func (d *doctor) checkSpace() {
	var sfs unix.Statfs_t
	if err := unix.Statfs(d.exists, &sfs); err != nil {
		d.add("space", statusFail, "statfs %s: %v", d.exists, err)
		return
	}
	free := sfs.Bavail * uint64(sfs.Bsize)
	total := sfs.Blocks * uint64(sfs.Bsize)
	page := uint64(os.Getpagesize())
	var reserved, unbacked uint64
	if st := d.store(); st != nil {
		if info, err := st.Info(); err == nil {
			reserved = info.ShmTot * page
			if info.ShmTot > info.ShmRSS {
				unbacked = (info.ShmTot - info.ShmRSS) * page
			}
		}
	}
	msg := fmt.Sprintf("%s free of %s; the segments hold %s", size(free), size(total), size(reserved))
	switch {
	case unbacked > free:
		d.add("space", statusFail, "%s, of which %s is not allocated yet (GOSHM_SPARSE=1) and does "+
			"not fit: writing it would kill the program with SIGBUS", msg, size(unbacked))
	case free < 64<<20 || free < total/20:
		d.add("space", statusWarn, "%s: little room left, new segments will fail with ENOSPC", msg)
	default:
		d.add("space", statusOK, "%s (reserved at shmget)", msg)
	}
}

func size(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

func (d *doctor) checkKernelLimits() {
	var vals []string
	for _, name := range []string{"shmmax", "shmall", "shmmni"} {
		b, err := os.ReadFile("/proc/sys/kernel/" + name)
		if err != nil {
			d.add("kernel", statusWarn, "cannot read kernel.%s: %v", name, err)
			return
		}
		vals = append(vals, name+"="+strings.TrimSpace(string(b)))
	}
	d.add("kernel", statusOK, "this IPC namespace has %s; goshm does not use them "+
		"(its limits are the kernel's defaults: shmmax=%d, shmmni=4096 per store)",
		strings.Join(vals, " "), uint64(1<<64-1-(1<<24)))
}

func (d *doctor) checkSysV() {
	// Raw system calls: this program's own shmget is goshm's.
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 1, unix.IPC_CREAT|0o600)
	if err != nil {
		d.add("sysv", statusFail, "the kernel's shmget fails (%v): goshm counts attaches with "+
			"one-byte kernel segments; allow System V IPC (seccomp) in this container", err)
		return
	}
	unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	d.add("sysv", statusOK, "the kernel's System V shared memory works (goshm counts attaches with it)")
}

// checkLeases tries what the engine does to tell whether another IPC
// namespace still has a segment attached: a read lease on a file succeeds
// while nobody has it open for writing, and fails with EAGAIN otherwise.
func (d *doctor) checkLeases() {
	where := d.exists
	if dirExists(filepath.Join(d.dir, "segments")) {
		where = filepath.Join(d.dir, "segments")
	}
	if !writable(where) {
		d.add("leases", statusWarn, "cannot test: %s is not writable", where)
		return
	}
	f, err := os.CreateTemp(where, ".doctor-lease-")
	if err != nil {
		d.add("leases", statusWarn, "cannot test: %v", err)
		return
	}
	name := f.Name()
	defer os.Remove(name)
	f.Close()

	fail := func(what string, err error) {
		d.add("leases", statusFail, "%s on %s: %v; goshm then cannot tell that a container "+
			"which shared the store is gone, and nattch stays above 0 after it stops "+
			"(check /proc/sys/fs/leases-enable, or use a local file system)", what, where, err)
	}
	rd, err := os.Open(name)
	if err != nil {
		d.add("leases", statusWarn, "cannot test: %v", err)
		return
	}
	defer rd.Close()
	if _, err := unix.FcntlInt(rd.Fd(), unix.F_SETLEASE, unix.F_RDLCK); err != nil {
		fail("a read lease fails", err)
		return
	}
	unix.FcntlInt(rd.Fd(), unix.F_SETLEASE, unix.F_UNLCK)
	wr, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		d.add("leases", statusWarn, "cannot test: %v", err)
		return
	}
	defer wr.Close()
	_, err = unix.FcntlInt(rd.Fd(), unix.F_SETLEASE, unix.F_RDLCK)
	if err == nil {
		unix.FcntlInt(rd.Fd(), unix.F_SETLEASE, unix.F_UNLCK)
		fail("a read lease is granted on a file open for writing", errors.New("no EAGAIN"))
		return
	}
	if !errors.Is(err, unix.EAGAIN) {
		fail("a read lease fails", err)
		return
	}
	d.add("leases", statusOK, "file leases work on %s (goshm counts other containers' attaches with them)", where)
}

// checkLibrary reports the library run would preload, and returns the ELF
// kind a program must have: the library's, else this program's own.
func (d *doctor) checkLibrary() elfKind {
	kind := selfKind()
	lib, err := d.c.findLib()
	if err != nil {
		d.add("library", statusWarn, "%v (goshm run needs it)", err)
		return kind
	}
	lk, err := libKind(lib)
	if err != nil {
		d.add("library", statusFail, "%v", err)
		return kind
	}
	build, err := libBuild(lib)
	if err != nil {
		d.add("library", statusFail, "%v", err)
		return kind
	}
	d.add("library", statusOK, "%s (%v): %s", lib, lk, build)
	return lk
}

func selfKind() elfKind {
	self, err := os.Executable()
	if err == nil {
		if f, err := elf.Open(self); err == nil {
			defer f.Close()
			return elfKind{f.Class, f.Machine}
		}
	}
	return elfKind{elf.ELFCLASS64, elf.EM_X86_64}
}

func (d *doctor) checkBinary(kind elfKind) {
	path := d.c.binary
	if !strings.Contains(path, "/") {
		if p, err := exec.LookPath(path); err == nil {
			path = p
		}
	}
	lib, why, err := d.c.libFor(path)
	if err != nil {
		d.add("binary", statusFail, "%v", err)
		return
	}
	if k, err := libKind(lib); err == nil {
		kind = k
	}
	if err := checkPreloadable(path, kind); err != nil {
		d.add("binary", statusFail, "%v", err)
		return
	}
	d.add("binary", statusOK, "%s can be preloaded (dynamically linked, %v); %s, goshm run "+
		"preloads %s", path, kind, why, lib)
	d.results = append(d.results, reachNotes(path, lib)...)
}
