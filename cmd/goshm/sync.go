package main

import (
	"flag"
	"fmt"
)

func syncFlags(c *cli, fs *flag.FlagSet) {
	fs.BoolVar(&c.all, "all", false, "flush every segment of the store")
}

// syncResult is one flushed segment in --json output.
type syncResult struct {
	ID    int    `json:"shmid"` // -1 for --all
	Error string `json:"error,omitempty"`
}

// cmdSync flushes segments to disk from outside the program that uses them
// (goshm_sync, docs/DURABILITY.md).
func (c *cli) cmdSync(args []string) error {
	if (len(args) == 0) == !c.all {
		return usagef("sync: give IDs or --all")
	}
	ids, err := parseIDs("sync", args)
	if err != nil {
		return err
	}
	if c.all {
		ids = []int{-1}
	}
	st, err := c.openStore()
	if err != nil {
		return err
	}
	var results []syncResult
	failed := 0
	for _, id := range ids {
		var err error
		switch {
		case st == nil && id >= 0:
			err = fmt.Errorf("invalid id (%d)", id)
		case st == nil:
		case id < 0:
			err = st.SyncAll()
		default:
			err = st.Segment(id).Sync()
		}
		r := syncResult{ID: id}
		if err != nil {
			failed++
			r.Error = err.Error()
			if !c.json {
				fmt.Fprintf(c.stderr, "goshm: %v\n", err)
			}
		} else if !c.json {
			if id < 0 {
				fmt.Fprintf(c.stdout, "flushed every segment of %s\n", c.storeDir())
			} else {
				fmt.Fprintf(c.stdout, "flushed segment %d\n", id)
			}
		}
		results = append(results, r)
	}
	if c.json {
		if err := c.printJSON(results); err != nil {
			return err
		}
	}
	if failed > 0 {
		return exitStatus(1)
	}
	return nil
}
