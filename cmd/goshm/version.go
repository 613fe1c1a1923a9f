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
	if c.json {
		return c.printJSON(map[string]string{
			"version": goshm.Version(),
			"go":      runtime.Version(),
			"os_arch": runtime.GOOS + "/" + runtime.GOARCH,
		})
	}
	fmt.Fprintf(c.stdout, "goshm %s (%s %s/%s)\n", goshm.Version(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH)
	return nil
}
