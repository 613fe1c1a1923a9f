package main

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/goshm/goshm/goshm"
)

func (c *cli) cmdLs(args []string) error {
	if len(args) > 0 {
		return usagef("ls: no arguments expected, got %q", args[0])
	}
	st, err := c.openStore()
	if err != nil {
		return err
	}
	if c.sem {
		return c.lsSems(st)
	}
	var segs []goshm.Stat
	if st != nil {
		if segs, err = st.List(); err != nil {
			return err
		}
	}
	objs, err := c.posixObjects()
	if err != nil {
		return err
	}
	if c.json {
		out := make([]any, 0, len(segs)+len(objs))
		for i := range segs {
			out = append(out, toJSON(&segs[i]))
		}
		for i := range objs {
			out = append(out, c.posixToJSON(&objs[i]))
		}
		return c.printJSON(out)
	}
	// The columns and widths of ipcs -m.
	fmt.Fprintf(c.stdout, "------ Shared Memory Segments in %s --------\n", c.storeDir())
	fmt.Fprintf(c.stdout, "%-10s %-10s %-10s %-10s %-10s %-10s %-12s\n",
		"key", "shmid", "owner", "perms", "bytes", "nattch", "status")
	for i := range segs {
		s := &segs[i]
		dest, locked := "", ""
		if s.Removed() {
			dest = "dest"
		}
		if s.Locked() {
			locked = "locked"
		}
		fmt.Fprintf(c.stdout, "%s %-10d %-10.10s %-10o %-10d %-10d %-6s %-6s\n",
			hexKey(s.Key), s.ID, userName(s.UID), s.Mode&0o777, s.Size, s.Nattch,
			dest, locked)
	}
	c.printPOSIXTable(objs)
	// Semaphore sets, when the store has any, as ipcs -s; damaged ones
	// are named after them.
	sets, err := c.semSets(st)
	if err != nil && !errors.Is(err, syscall.EIO) {
		return err
	}
	if len(sets) > 0 {
		fmt.Fprintln(c.stdout)
		printSems(c.stdout, c.storeDir(), sets)
	}
	return c.damagedSems(err)
}
