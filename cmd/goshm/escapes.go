package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// kernelSegment is one line of /proc/sysvipc/shm: a System V segment of
// this IPC namespace as the kernel has it.
type kernelSegment struct {
	key, id, perms int64
	size           uint64
	cpid, nattch   int64
}

// sysvipcRows reads one of /proc/sysvipc's tables (shm, sem), which list
// this IPC namespace's objects without any System V call (this program's
// own would be goshm's under LD_PRELOAD): one map per object, from its
// column names to its numbers (perms in octal).
func sysvipcRows(path string) ([]map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var names []string
	var rows []map[string]int64
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if names == nil {
			names = fields
			continue
		}
		row := map[string]int64{}
		for i, name := range names {
			if i >= len(fields) {
				break
			}
			base := 10
			if name == "perms" {
				base = 8
			}
			v, err := strconv.ParseInt(fields[i], base, 64)
			if err != nil {
				v = -1
			}
			row[name] = v
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

// kernelSegments reads /proc/sysvipc/shm: the segments of this IPC
// namespace as the kernel has them.
func kernelSegments() ([]kernelSegment, error) {
	rows, err := sysvipcRows("/proc/sysvipc/shm")
	var segs []kernelSegment
	for _, r := range rows {
		segs = append(segs, kernelSegment{key: r["key"], id: r["shmid"], perms: r["perms"],
			size: uint64(r["size"]), cpid: r["cpid"], nattch: r["nattch"]})
	}
	return segs, err
}

// kernelSemSets reads /proc/sysvipc/sem: the semaphore sets of this IPC
// namespace as the kernel has them.  goshm makes none of its own.
func kernelSemSets() ([]kernelSemSet, error) {
	rows, err := sysvipcRows("/proc/sysvipc/sem")
	var sets []kernelSemSet
	for _, r := range rows {
		sets = append(sets, kernelSemSet{key: r["key"], id: r["semid"], nsems: r["nsems"]})
	}
	return sets, err
}

// kernelSemSet is one line of /proc/sysvipc/sem.
type kernelSemSet struct {
	key, id, nsems int64
}

// isPresence says whether s is one of goshm's presence segments: what the
// engine makes to count attaches (capi/engine/presence.c
// looks_like_presence): one byte, IPC_PRIVATE, mode 0644.  Read from the
// listing, without attaching it (its shm_atime is a goshm segment's).
func (s kernelSegment) isPresence() bool {
	return s.size == 1 && s.key == 0 && s.perms&0o777 == 0o644
}

// creator describes the process that made a segment: its command line
// while it lives.
func creator(pid int64) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return fmt.Sprintf("pid %d (exited)", pid)
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	return fmt.Sprintf("pid %d (%s)", pid, strings.Join(args, " "))
}

// keyName is how doctor names a key.
func keyName(key int64) string {
	if key == 0 {
		return "IPC_PRIVATE"
	}
	return fmt.Sprintf("key %#x", uint32(key))
}

// checkEscapes lists the System V segments and semaphore sets of this IPC
// namespace that are not goshm's: made by programs LD_PRELOAD did not
// reach (docs/DIFFERENCES.md, "Where LD_PRELOAD does not reach"), or by
// keys GOSHM_KEYS leaves to the kernel.  They are lost when the namespace
// goes (a restart).  Sets are left out when GOSHM_SEM=0 leaves every set to
// the kernel.
func (d *doctor) checkEscapes() {
	segs, err := kernelSegments()
	if err != nil {
		d.add("escapes", statusWarn, "cannot list the kernel's segments: %v", err)
		return
	}
	var sets []kernelSemSet
	if d.c.getenv("GOSHM_SEM") != "0" {
		if sets, err = kernelSemSets(); err != nil {
			d.add("escapes", statusWarn, "cannot list the kernel's semaphore sets: %v", err)
			return
		}
	}
	var out []string
	nseg := 0
	for _, s := range segs {
		if s.isPresence() {
			continue
		}
		nseg++
		out = append(out, fmt.Sprintf("id %d (%s, %d bytes, %d attach(es)) made by %s",
			s.id, keyName(s.key), s.size, s.nattch, creator(s.cpid)))
	}
	for _, s := range sets {
		out = append(out, fmt.Sprintf("semaphore set id %d (%s, %d semaphore(s))",
			s.id, keyName(s.key), s.nsems))
	}
	if len(out) == 0 {
		d.add("escapes", statusOK, "no System V segment or semaphore set in this IPC namespace but goshm's")
		return
	}
	what := fmt.Sprintf("%d kernel segment(s)", nseg)
	switch {
	case len(sets) > 0 && nseg > 0:
		what += fmt.Sprintf(" and %d semaphore set(s)", len(sets))
	case len(sets) > 0:
		what = fmt.Sprintf("%d kernel semaphore set(s)", len(sets))
	}
	const shown = 10
	more := ""
	if len(out) > shown {
		more = fmt.Sprintf("; and %d more (ipcs -m -s -p)", len(out)-shown)
		out = out[:shown]
	}
	why := "made by programs goshm did not reach (docs/DIFFERENCES.md, \"Where LD_PRELOAD does not reach\")"
	if d.c.getenv("GOSHM_KEYS") != "" {
		why += ", or by keys GOSHM_KEYS leaves to the kernel"
	}
	d.add("escapes", statusWarn, "%s in this IPC namespace are not goshm's "+
		"and will be lost on restart, %s: %s%s", what, why, strings.Join(out, "; "), more)
}

// reachNotes are what doctor --binary says, besides whether the program
// can be preloaded at all, about calls LD_PRELOAD cannot or can only just
// reach: a Go program's system calls, a program without the C library,
// PHP's RTLD_DEEPBIND extensions, and a program linked with goshm's
// library after the C library, which reaches goshm only when preloaded.
func reachNotes(path, lib string) []checkResult {
	prog := elfOf(path)
	if prog == "" {
		return nil
	}
	f, err := elf.Open(prog)
	if err != nil {
		return nil
	}
	defer f.Close()
	var notes []checkResult
	note := func(status, format string, args ...any) {
		notes = append(notes, checkResult{"reach", status, fmt.Sprintf(format, args...)})
	}
	if fi, err := os.Stat(prog); err == nil && fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
		note(statusWarn, "%s is set-user-ID or set-group-ID: run by a user other than its owner "+
			"(group), the loader ignores LD_PRELOAD; relink it with -lgoshm", prog)
	}
	libs, _ := f.ImportedLibraries()
	libc := false
	for _, l := range libs {
		libc = libc || strings.HasPrefix(l, "libc.so") || strings.HasPrefix(l, "libc.musl")
	}
	if c, g := linkedBefore(libs); c != "" {
		note(statusWarn, "%s is linked with %s after %s: run without LD_PRELOAD, its System V "+
			"calls bind to the C library's, and its segments and semaphore sets escape to the "+
			"kernel; relink it with -lgoshm before the C library (docs/C.md, \"Linking with -lgoshm\")",
			prog, g, c)
	}
	switch {
	case f.Section(".go.buildinfo") != nil:
		note(statusWarn, "%s is a Go program: System V calls it makes with golang.org/x/sys/unix "+
			"or syscall are system calls, which LD_PRELOAD cannot reach (only C code it calls "+
			"through cgo is reached); use the Go package github.com/goshm/goshm/goshm", prog)
	case !libc:
		note(statusWarn, "%s does not use the C library: it makes its system calls itself, "+
			"which LD_PRELOAD cannot reach", prog)
	}
	if isPHP(f) {
		if libExports(lib, "dlopen") {
			note(statusOK, "%s is PHP, which loads its extensions (sysvshm, shmop) with "+
				"RTLD_DEEPBIND: %s interposes dlopen and brings their System V calls to goshm",
				prog, filepath.Base(lib))
		} else {
			note(statusWarn, "%s is PHP, which loads its extensions (sysvshm, shmop) with "+
				"RTLD_DEEPBIND, and %s does not interpose dlopen: their segments escape to the "+
				"kernel; use goshm's glibc library", prog, filepath.Base(lib))
		}
	}
	return notes
}

// linkedBefore names the C library and goshm's library when a program
// needs both and the C library comes first: the loader then binds the
// program's shmget… to the C library's.
func linkedBefore(needed []string) (libc, goshm string) {
	for _, l := range needed {
		switch {
		case strings.HasPrefix(l, "libc.so") || strings.HasPrefix(l, "libc.musl"):
			if libc == "" {
				libc = l
			}
		case strings.HasPrefix(l, "libgoshm"):
			if libc == "" {
				return "", "" // goshm's comes first
			}
			return libc, l
		}
	}
	return "", ""
}

// elfOf follows a script's #! line to the ELF program that runs it.
func elfOf(path string) string {
	for depth := 0; depth < 5; depth++ {
		f, err := os.Open(path)
		if err != nil {
			return ""
		}
		head := make([]byte, 256)
		n, _ := io.ReadFull(f, head)
		f.Close()
		if !bytes.HasPrefix(head[:n], []byte("#!")) {
			return path
		}
		interp, err := interpreter(path, head[:n])
		if err != nil {
			return ""
		}
		path = interp[len(interp)-1]
	}
	return ""
}

// isPHP recognises the PHP interpreter by the Zend engine's exported
// extension loader.
func isPHP(f *elf.File) bool {
	syms, err := f.DynamicSymbols()
	if err != nil {
		return false
	}
	for _, s := range syms {
		if s.Name == "php_load_extension" && s.Section != elf.SHN_UNDEF {
			return true
		}
	}
	return false
}

// libExports says whether the library at lib defines name.
func libExports(lib, name string) bool {
	f, err := elf.Open(lib)
	if err != nil {
		return false
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		return false
	}
	for _, s := range syms {
		if s.Name == name && s.Section != elf.SHN_UNDEF {
			return true
		}
	}
	return false
}
