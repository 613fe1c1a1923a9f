package main

import (
	"flag"
	"fmt"

	"github.com/goshm/goshm/goshm"
)

func gcFlags(c *cli, fs *flag.FlagSet) {
	fs.BoolVar(&c.dryRun, "dry-run", false, "only say what would be removed")
}

// gcJSON is one collected item in --json output.
type gcJSON struct {
	Kind    string `json:"kind"` // "segment", "file", "kernel" or "posix"
	ID      int    `json:"shmid"`
	Path    string `json:"path"`
	Removed bool   `json:"removed"` // false with --dry-run
}

func (c *cli) cmdGC(args []string) error {
	if len(args) > 0 {
		return usagef("gc: no arguments expected, got %q", args[0])
	}
	st, err := c.openStore()
	if err != nil {
		return err
	}
	if st == nil {
		// No registry: a first use cut short may have left its
		// temporary file, which gc removes once it is old.
		if st, err = goshm.Open(c.storeDir()); err != nil {
			return err
		}
	}
	out := []gcJSON{}
	{
		items, err := st.GC(c.dryRun)
		if err != nil {
			return err
		}
		for _, it := range items {
			out = append(out, gcJSON{Kind: it.Kind.String(), ID: it.ID, Path: it.Path,
				Removed: !c.dryRun})
		}
	}
	// posix/: what goshm never makes there; the objects stay.
	kept := 0
	{
		names, err := st.CollectPOSIX(c.dryRun)
		if err != nil {
			return err
		}
		for _, n := range names {
			out = append(out, gcJSON{Kind: "posix", ID: -1, Path: c.posixPath(n), Removed: !c.dryRun})
		}
		objs, err := st.ListPOSIX()
		if err != nil {
			return err
		}
		for _, o := range objs {
			if !o.Damaged {
				kept++
			}
		}
	}
	if c.json {
		return c.printJSON(out)
	}
	verb := "removed"
	if c.dryRun {
		verb = "would remove"
	}
	for _, it := range out {
		switch it.Kind {
		case "segment":
			fmt.Fprintf(c.stdout, "%s segment %d (%s)\n", verb, it.ID, it.Path)
		case "posix":
			fmt.Fprintf(c.stdout, "%s %s (in posix/, not a POSIX object goshm made)\n", verb, it.Path)
		case "kernel":
			fmt.Fprintf(c.stdout, "%s kernel segment %d (an unused %s of this IPC namespace)\n",
				verb, it.ID, it.Path)
		default:
			fmt.Fprintf(c.stdout, "%s file %s\n", verb, it.Path)
		}
	}
	if len(out) == 0 {
		fmt.Fprintf(c.stdout, "nothing to collect in %s\n", c.storeDir())
	}
	if kept > 0 {
		fmt.Fprintf(c.stdout, "kept %d POSIX objects: they stay until shm_unlink or goshm rm /NAME\n", kept)
	}
	return nil
}
