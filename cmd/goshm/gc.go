package main

import (
	"flag"
	"fmt"
)

func gcFlags(c *cli, fs *flag.FlagSet) {
	fs.BoolVar(&c.dryRun, "dry-run", false, "only say what would be removed")
}

// gcJSON is one collected item in --json output.
type gcJSON struct {
	Kind    string `json:"kind"` // "segment" or "file"
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
	out := []gcJSON{}
	if st != nil {
		items, err := st.GC(c.dryRun)
		if err != nil {
			return err
		}
		for _, it := range items {
			out = append(out, gcJSON{Kind: it.Kind.String(), ID: it.ID, Path: it.Path,
				Removed: !c.dryRun})
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
		if it.Kind == "segment" {
			fmt.Fprintf(c.stdout, "%s segment %d (%s)\n", verb, it.ID, it.Path)
		} else {
			fmt.Fprintf(c.stdout, "%s file %s\n", verb, it.Path)
		}
	}
	if len(out) == 0 {
		fmt.Fprintf(c.stdout, "nothing to collect in %s\n", c.storeDir())
	}
	return nil
}
