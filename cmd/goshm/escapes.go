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

// kernelSegments reads /proc/sysvipc/shm, which lists the segments of the
// reader's IPC namespace without any System V call (this program's own
// would be goshm's under LD_PRELOAD).
func kernelSegments() ([]kernelSegment, error) {
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var cols map[string]int
	var segs []kernelSegment
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if cols == nil {
			cols = map[string]int{}
			for i, name := range fields {
				cols[name] = i
			}
			continue
		}
		num := func(name string) int64 {
			i, ok := cols[name]
			if !ok || i >= len(fields) {
				return -1
			}
			v, _ := strconv.ParseInt(fields[i], 10, 64)
			return v
		}
		perms, _ := strconv.ParseInt(fields[min(cols["perms"], len(fields)-1)], 8, 64)
		segs = append(segs, kernelSegment{key: num("key"), id: num("shmid"), perms: perms,
			size: uint64(num("size")), cpid: num("cpid"), nattch: num("nattch")})
	}
	return segs, sc.Err()
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

// checkEscapes lists the System V segments of this IPC namespace that are
// not goshm's: made by programs LD_PRELOAD did not reach (docs/DIFFERENCES.md,
// "Where LD_PRELOAD does not reach"), or by keys GOSHM_KEYS leaves to the
// kernel.  They are lost when the namespace goes (a restart).
func (d *doctor) checkEscapes() {
	segs, err := kernelSegments()
	if err != nil {
		d.add("escapes", statusWarn, "cannot list the kernel's segments: %v", err)
		return
	}
	var out []string
	for _, s := range segs {
		if s.isPresence() {
			continue
		}
		key := "IPC_PRIVATE"
		if s.key != 0 {
			key = fmt.Sprintf("key %#x", uint32(s.key))
		}
		out = append(out, fmt.Sprintf("id %d (%s, %d bytes, %d attach(es)) made by %s",
			s.id, key, s.size, s.nattch, creator(s.cpid)))
	}
	if len(out) == 0 {
		d.add("escapes", statusOK, "no System V segment in this IPC namespace but goshm's")
		return
	}
	const shown = 10
	more := ""
	if len(out) > shown {
		more = fmt.Sprintf("; and %d more (ipcs -m -p)", len(out)-shown)
		out = out[:shown]
	}
	why := "made by programs goshm did not reach (docs/DIFFERENCES.md, \"Where LD_PRELOAD does not reach\")"
	if d.c.getenv("GOSHM_KEYS") != "" {
		why += ", or by keys GOSHM_KEYS leaves to the kernel"
	}
	d.add("escapes", statusWarn, "%d kernel segment(s) in this IPC namespace are not goshm's "+
		"and will be lost on restart, %s: %s%s", len(out), why, strings.Join(out, "; "), more)
}

// reachNotes are what doctor --binary says, besides whether the program
// can be preloaded at all, about calls LD_PRELOAD cannot or can only just
// reach: a Go program's system calls, a program without the C library,
// and PHP's RTLD_DEEPBIND extensions.
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
