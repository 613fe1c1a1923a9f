package main

import (
	"debug/elf"
	"fmt"
	"path/filepath"
	"strings"
)

// muslLib is the library for programs built against musl (Alpine's C
// library), looked for where libgoshm.so is: `make` builds it into
// build/musl/ (docs/DESIGN.md, "A musl build").  A glibc library cannot
// be preloaded into a musl program, nor the other way round.
const muslLib = "musl/libgoshm.so"

// muslInstalled is where `make install` and the Debian package put the
// musl build below the library directory (/usr/lib/x86_64-linux-gnu/
// goshm/musl/libgoshm.so): a directory of goshm's own, since the file is
// named like the glibc build and only ever preloaded.
const muslInstalled = "goshm/" + muslLib

// searchMuslLib finds the musl build: in each place libgoshm.so is looked
// for, as musl/libgoshm.so (the build tree: build/goshm beside
// build/musl/) or goshm/musl/libgoshm.so (installed).
func (c *cli) searchMuslLib() (string, error) {
	built, installed := c.libCandidates(muslLib), c.libCandidates(muslInstalled)
	var cands []string
	for i := range built {
		cands = append(cands, built[i], installed[i])
	}
	return searchPaths(muslLib, cands)
}

// programLibc says which C library the program at path (or the program a
// #! script runs) is linked against, by its ELF interpreter: "musl" for
// /lib/ld-musl-*.so.1, else "glibc"; interp is that interpreter.
func programLibc(path string) (libc, interp string) {
	prog := elfOf(path)
	if prog == "" {
		return "glibc", ""
	}
	f, err := elf.Open(prog)
	if err != nil {
		return "glibc", ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return "glibc", ""
		}
		interp = strings.TrimRight(string(b), "\x00")
		if strings.HasPrefix(filepath.Base(interp), "ld-musl-") {
			return "musl", interp
		}
		return "glibc", interp
	}
	return "glibc", ""
}

// libLibc says which C library the goshm library at lib was built for:
// musl's is libc.so, glibc's libc.so.6.
func libLibc(lib string) string {
	f, err := elf.Open(lib)
	if err != nil {
		return ""
	}
	defer f.Close()
	needed, _ := f.ImportedLibraries()
	for _, n := range needed {
		switch {
		case n == "libc.so" || strings.HasPrefix(n, "libc.musl"):
			return "musl"
		case strings.HasPrefix(n, "libc.so."):
			return "glibc"
		}
	}
	return ""
}

// libFor is the library to preload into the program at path: --lib or
// GOSHM_LIB when given, else libgoshm.so for a glibc program and
// musl/libgoshm.so for a musl one.  It refuses a library of the other C
// library, which the loader could not load.  why says how it was chosen.
func (c *cli) libFor(path string) (lib, why string, err error) {
	libc, interp := programLibc(path)
	if c.lib == "" && c.getenv("GOSHM_LIB") == "" && libc == "musl" {
		lib, err = c.searchMuslLib()
		if err != nil {
			return "", "", fmt.Errorf("%s uses musl (%s) and needs goshm's musl build: %w; "+
				"build it (make, with musl-gcc from musl-tools) or give --lib PATH", path, interp, err)
		}
		return lib, fmt.Sprintf("%s uses musl (%s): the musl build", path, interp), nil
	}
	lib, err = c.findLib()
	if err != nil {
		return "", "", err
	}
	if ll := libLibc(lib); ll != "" && ll != libc {
		return "", "", fmt.Errorf("%s uses %s but %s is built for %s: the loader cannot preload it; "+
			"use goshm's %s build", path, libc, lib, ll, libc)
	}
	return lib, fmt.Sprintf("%s uses %s", path, libc), nil
}
