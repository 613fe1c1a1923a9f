package main

import (
	"errors"
	"flag"
	"fmt"
	"syscall"

	"github.com/goshm/goshm/goshm"
)

func rmFlags(c *cli, fs *flag.FlagSet) {
	fs.Var(&c.keys, "key", "a segment's key (repeatable)")
	fs.Var(&c.semIDs, "sem", "a semaphore set's id (repeatable)")
	fs.Var(&c.semKeys, "sem-key", "a semaphore set's key (repeatable)")
}

// rmResult is one removal in --json output.
type rmResult struct {
	ID    *int   `json:"shmid,omitempty"`
	SemID *int   `json:"semid,omitempty"`
	Key   string `json:"key,omitempty"`
	Name  string `json:"name,omitempty"`  // a POSIX object's
	Error string `json:"error,omitempty"` // ipcrm's words; empty on success
}

// cmdRm removes like ipcrm: shmget(key, 0, 0) for a key, then
// shmctl(IPC_RMID), each error worded as ipcrm words it.
func (c *cli) cmdRm(args []string) error {
	if len(args) == 0 && len(c.keys) == 0 && len(c.semIDs) == 0 && len(c.semKeys) == 0 {
		return usagef("rm: give IDs or --key KEY")
	}
	names, args := splitPOSIX(args)
	ids, err := parseIDs("rm", args)
	if err != nil {
		return err
	}
	keys := make([]int, len(c.keys))
	for i, k := range c.keys {
		key, err := parseKey(k)
		if err != nil {
			return usagef("rm: %v", err)
		}
		keys[i] = key
	}
	var st *goshm.Store
	if len(ids) > 0 || len(keys) > 0 || len(c.semIDs) > 0 || len(c.semKeys) > 0 {
		if st, err = c.openStore(); err != nil {
			return err
		}
	}

	var results []rmResult
	failed := 0
	report := func(r rmResult, msg, arg string) {
		if msg != "" {
			failed++
			r.Error = msg
			if !c.json {
				fmt.Fprintf(c.stderr, "goshm: %s (%s)\n", msg, arg)
			}
		}
		results = append(results, r)
	}
	for i, id := range ids {
		r := rmResult{ID: &id}
		if st == nil {
			report(r, "invalid id", args[i])
			continue
		}
		report(r, rmWords(st.Segment(id).Remove(), "id"), args[i])
	}
	for i, key := range keys {
		arg := c.keys[i]
		r := rmResult{Key: hexKey(key)}
		switch {
		case key == goshm.IPC_PRIVATE:
			report(r, "illegal key", arg)
			continue
		case st == nil:
			report(r, "invalid key", arg)
			continue
		}
		seg, err := st.Get(key, 0, 0, 0)
		if err == nil {
			id := seg.ID()
			r.ID = &id
			err = seg.Remove()
		}
		report(r, rmWords(err, "key"), arg)
	}
	if err := c.removePOSIX(names, report); err != nil {
		return err
	}
	if err := c.rmSems(st, report); err != nil {
		return err
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

// rmWords is ipcrm's message for err, without the "(arg)" it appends.
func rmWords(err error, what string) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return ""
	case !errors.As(err, &errno):
		return err.Error()
	}
	switch errno {
	case syscall.EACCES, syscall.EPERM:
		return "permission denied for " + what
	case syscall.EINVAL, syscall.ENOENT:
		return "invalid " + what
	case syscall.EIDRM:
		return "already removed " + what
	}
	return what + " failed: " + err.Error()
}
