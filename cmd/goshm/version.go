package main

import (
	"fmt"
	"runtime"

	"github.com/goshm/goshm/goshm"
)

func (c *cli) cmdVersion(args []string) error {
	if len(args) > 0 {
		return usagef("version: no arguments expected, got %q", args[0])
	}
	// The library run would preload, and which build it is; not finding
	// one is no failure of this command.
	lib, err := c.findLib()
	build := ""
	if err == nil {
		build, err = libBuild(lib)
	}
	if c.json {
		out := map[string]string{
			"version": goshm.Version(),
			"go":      runtime.Version(),
			"os_arch": runtime.GOOS + "/" + runtime.GOARCH,
		}
		if err != nil {
			out["library_error"] = err.Error()
		} else {
			out["library"], out["library_build"] = lib, build
		}
		return c.printJSON(out)
	}
	fmt.Fprintf(c.stdout, "goshm %s (%s %s/%s)\n", goshm.Version(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH)
	if err != nil {
		fmt.Fprintf(c.stdout, "library: %v\n", err)
	} else {
		fmt.Fprintf(c.stdout, "library %s: %s\n", lib, build)
	}
	return nil
}
