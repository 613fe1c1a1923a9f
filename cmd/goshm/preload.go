package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// elfKind is what matters of an ELF file for LD_PRELOAD: its class and
// machine must be the library's, or the loader skips the library.
type elfKind struct {
	class   elf.Class
	machine elf.Machine
}

func (k elfKind) String() string { return fmt.Sprintf("%v %v", k.class, k.machine) }

// libKind checks that lib is a shared library and returns its kind.
func libKind(lib string) (elfKind, error) {
	f, err := elf.Open(lib)
	if err != nil {
		return elfKind{}, fmt.Errorf("library %s: %w", lib, err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		return elfKind{}, fmt.Errorf("library %s: not a shared library (%v)", lib, f.Type)
	}
	return elfKind{f.Class, f.Machine}, nil
}

// The two builds of the library (docs/DESIGN.md), as version and doctor
// name them.
const (
	buildC  = "C build (no Go runtime)"
	buildGo = "Go c-shared build (carries a Go runtime)"
)

// libBuild says which build the library at lib is: the Go linker gives
// every binary it links a .go.buildinfo section, the C compiler none.
func libBuild(lib string) (string, error) {
	f, err := elf.Open(lib)
	if err != nil {
		return "", fmt.Errorf("library %s: %w", lib, err)
	}
	defer f.Close()
	if f.Section(".go.buildinfo") != nil {
		return buildGo, nil
	}
	return buildC, nil
}

// checkPreloadable says why LD_PRELOAD of a library of kind lib cannot
// reach the program at path, or returns nil.  Scripts are judged by their
// #! interpreter (through env(1) too), up to the kernel's four levels.
func checkPreloadable(path string, lib elfKind) error {
	return checkDepth(path, lib, 0)
}

func checkDepth(path string, lib elfKind, depth int) error {
	if depth > 4 {
		return fmt.Errorf("%s: too many levels of #! interpreters", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	if err := checkSecureExec(path, fi, os.Geteuid()); err != nil {
		return err
	}
	head := make([]byte, 256) // the kernel's BINPRM_BUF_SIZE
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	head = head[:n]
	if bytes.HasPrefix(head, []byte("#!")) {
		interp, err := interpreter(path, head)
		if err != nil {
			return err
		}
		for _, p := range interp {
			if err := checkDepth(p, lib, depth+1); err != nil {
				return fmt.Errorf("%s: its interpreter: %w", path, err)
			}
		}
		return nil
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return fmt.Errorf("%s: neither an ELF program nor a #! script", path)
	}
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return fmt.Errorf("%s: not an executable (%v)", path, ef.Type)
	}
	dynamic := false
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			dynamic = true
		}
	}
	if !dynamic {
		// Static, or static-pie (PT_DYNAMIC but no loader to read it).
		return fmt.Errorf("%s is statically linked: LD_PRELOAD cannot reach it; "+
			"build it dynamically, or link goshm in (-lgoshm) when you relink it", path)
	}
	if k := (elfKind{ef.Class, ef.Machine}); k != lib {
		return fmt.Errorf("%s is %v but libgoshm.so is %v: the loader would skip the library",
			path, k, lib)
	}
	return nil
}

// checkSecureExec refuses set-user-ID and set-group-ID programs, and
// programs with file capabilities, that the loader would run in secure
// mode (AT_SECURE) for a caller of effective uid euid: there it ignores a
// preloaded path, and the program would get the kernel's segments.
func checkSecureExec(path string, fi os.FileInfo, euid int) error {
	// File capabilities (setcap cap_net_bind_service+ep, usual for a
	// server on port 80) raise a non-root caller's permitted set at exec.
	if euid != 0 {
		if _, err := unix.Getxattr(path, "security.capability", nil); err == nil {
			return fmt.Errorf("%s has file capabilities (setcap): the loader runs it in "+
				"secure mode and ignores LD_PRELOAD; relink it with -lgoshm", path)
		}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if fi.Mode()&os.ModeSetuid != 0 && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s is set-user-ID: the loader runs it in secure mode and "+
			"ignores LD_PRELOAD; relink it with -lgoshm", path)
	}
	if fi.Mode()&os.ModeSetgid != 0 && int(st.Gid) != os.Getgid() {
		return fmt.Errorf("%s is set-group-ID: the loader runs it in secure mode and "+
			"ignores LD_PRELOAD; relink it with -lgoshm", path)
	}
	return nil
}

// interpreter returns the programs a #! line runs: the interpreter, and
// for "#!/usr/bin/env [-S] PROG" also PROG as found in PATH.
func interpreter(path string, head []byte) ([]string, error) {
	line, _, _ := bytes.Cut(head[2:], []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s: empty #! line", path)
	}
	out := []string{fields[0]}
	if filepath.Base(fields[0]) == "env" {
		for _, a := range fields[1:] {
			if strings.HasPrefix(a, "-") || strings.Contains(a, "=") {
				continue
			}
			p, err := exec.LookPath(a)
			if err != nil {
				return nil, fmt.Errorf("%s: its #! runs %s: %w", path, a, err)
			}
			out = append(out, p)
			break
		}
	}
	return out, nil
}
