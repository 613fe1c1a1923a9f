package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// libFlag is --lib, for run and for the commands that report the library
// run would preload (doctor, version).
func libFlag(c *cli, fs *flag.FlagSet) {
	fs.StringVar(&c.lib, "lib", "", "the library to preload: a path, or a file name looked for where libgoshm.so is")
}

// cmdRun execs the command with the library preloaded; it returns only
// when it cannot.
func (c *cli) cmdRun(args []string) error {
	if len(args) == 0 {
		return usagef("run: no command (goshm run [--dir DIR] [--lib PATH] -- COMMAND [ARGS...])")
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	lib, why, err := c.libFor(path)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if strings.HasSuffix(lib, muslLib) {
		// Not the default library: say which, once.
		fmt.Fprintf(c.stderr, "goshm run: %s; preloading %s\n", why, lib)
	}
	kind, err := libKind(lib)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if err := checkPreloadable(path, kind); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	dir, err := filepath.Abs(c.storeDir())
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	env := runEnv(c.environ(), lib, dir)
	if err := c.exec(path, args, env); err != nil {
		return fmt.Errorf("run: exec %s: %w", path, err)
	}
	return nil
}

// runEnv is environ with lib in front of LD_PRELOAD (what was preloaded
// stays, after it) and GOSHM_DIR set to dir.
func runEnv(environ []string, lib, dir string) []string {
	preload := lib
	var env []string
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		switch name {
		case "GOSHM_DIR":
			continue
		case "LD_PRELOAD":
			// The loader splits the list at spaces and colons.
			items := strings.FieldsFunc(val, func(r rune) bool { return r == ' ' || r == ':' })
			for _, it := range items {
				if it != lib {
					preload += ":" + it
				}
			}
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LD_PRELOAD="+preload, "GOSHM_DIR="+dir)
}

// defaultLib is the library run preloads unless told otherwise: the C
// compiler's build, which brings no Go runtime into the program.
const defaultLib = "libgoshm.so"

// libCandidates are the places run looks for the library file name, in
// order: beside the goshm binary, in ../lib, /usr/local/lib, the
// multiarch directory where Debian's package puts it (/usr/lib/
// x86_64-linux-gnu), /usr/lib.  A goshm from `go install` lives in
// $GOBIN, so it finds a library that the package or `make install` put
// in one of the system's directories.
func (c *cli) libCandidates(name string) []string {
	var out []string
	if self, err := c.executable(); err == nil {
		if real, err := filepath.EvalSymlinks(self); err == nil {
			self = real
		}
		d := filepath.Dir(self)
		out = append(out, filepath.Join(d, name), filepath.Join(d, "..", "lib", name))
	}
	out = append(out, "/usr/local/lib/"+name)
	if triplet := multiarch[runtime.GOARCH]; triplet != "" {
		out = append(out, "/usr/lib/"+triplet+"/"+name)
	}
	return append(out, "/usr/lib/"+name)
}

// multiarch is Debian's multiarch tuple of each GOARCH of Linux, the
// directory below /usr/lib where its packages keep libraries.
var multiarch = map[string]string{
	"amd64":    "x86_64-linux-gnu",
	"arm64":    "aarch64-linux-gnu",
	"386":      "i386-linux-gnu",
	"arm":      "arm-linux-gnueabihf",
	"ppc64le":  "powerpc64le-linux-gnu",
	"riscv64":  "riscv64-linux-gnu",
	"s390x":    "s390x-linux-gnu",
	"mips64le": "mips64el-linux-gnuabi64",
	"loong64":  "loongarch64-linux-gnu",
}

// findLib is --lib, else $GOSHM_LIB, else the first candidate that exists,
// refused if LD_PRELOAD cannot carry its path.
func (c *cli) findLib() (string, error) {
	p, err := c.locateLib()
	if err == nil && strings.ContainsAny(p, " :") {
		// The loader splits LD_PRELOAD at spaces and colons: the program
		// would run without the library.
		err = fmt.Errorf("library path %q contains a space or a colon, which LD_PRELOAD "+
			"cannot carry; move the library", p)
	}
	return p, err
}

func (c *cli) locateLib() (string, error) {
	for _, explicit := range []struct{ what, path string }{
		{"--lib", c.lib}, {"GOSHM_LIB", c.getenv("GOSHM_LIB")},
	} {
		switch {
		case explicit.path == "":
			continue
		case !strings.Contains(explicit.path, "/"):
			// A file name, such as libgoshm-go.so: where the default
			// library would be.
			p, err := c.searchLib(explicit.path)
			if err != nil {
				return "", fmt.Errorf("library from %s: %w", explicit.what, err)
			}
			return p, nil
		}
		p, err := filepath.Abs(explicit.path)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("library from %s: %w", explicit.what, err)
		}
		return p, nil
	}
	p, err := c.searchLib(defaultLib)
	if err != nil {
		return "", fmt.Errorf("%w; give --lib PATH or set GOSHM_LIB", err)
	}
	return p, nil
}

// searchLib returns the first of libCandidates(name) that exists.
func (c *cli) searchLib(name string) (string, error) {
	return searchPaths(name, c.libCandidates(name))
}

// searchPaths returns the first of cands, the places to look for the
// library name, that exists.
func searchPaths(name string, cands []string) (string, error) {
	for _, p := range cands {
		if _, err := os.Stat(p); err == nil {
			return filepath.Clean(p), nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("library %s: %w", p, err)
		}
	}
	return "", fmt.Errorf("%s not found (looked in %s)", name, strings.Join(cands, ", "))
}

// executablePath finds the goshm binary, to look for the library beside
// it; tests point it elsewhere.
var executablePath = os.Executable
