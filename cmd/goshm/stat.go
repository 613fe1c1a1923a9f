package main

import (
	"errors"
	"flag"
	"fmt"
	"syscall"

	"github.com/goshm/goshm/goshm"
)

// keyList is a repeatable --key flag.
type keyList []string

func (k *keyList) String() string     { return fmt.Sprint(*k) }
func (k *keyList) Set(s string) error { *k = append(*k, s); return nil }

func statFlags(c *cli, fs *flag.FlagSet) {
	fs.Var(&c.keys, "key", "the segment's key")
	fs.BoolVar(&c.sem, "sem", false, "a semaphore set's id or key instead")
}

func (c *cli) cmdStat(args []string) error {
	var id, key int
	var err error
	if len(c.keys) > 1 {
		return usagef("stat: one --key at most")
	}
	statKey := ""
	if len(c.keys) == 1 {
		statKey = c.keys[0]
	}
	if statKey == "" && len(args) == 1 && isPOSIXName(args[0]) {
		return c.statPOSIX(args[0])
	}
	switch {
	case statKey != "" && len(args) == 0:
		if key, err = parseKey(statKey); err != nil {
			return usagef("stat: %v", err)
		}
	case statKey == "" && len(args) == 1:
		if id, err = parseID(args[0]); err != nil {
			return usagef("stat: %v", err)
		}
	default:
		return usagef("stat: give one ID or --key KEY")
	}
	st, err := c.openStore()
	if err != nil {
		return err
	}
	if st == nil {
		if statKey != "" {
			return fmt.Errorf("stat: invalid key (%s)", statKey)
		}
		return fmt.Errorf("stat: invalid id (%d)", id)
	}
	if c.sem {
		return c.statSem(st, id, key, statKey)
	}
	seg := st.Segment(id)
	if statKey != "" {
		if seg, err = st.Get(key, 0, 0, 0); err != nil {
			if errors.Is(err, syscall.ENOENT) {
				return fmt.Errorf("stat: invalid key (%s)", statKey)
			}
			return err
		}
	}
	s, err := seg.Stat()
	if err != nil {
		if errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("stat: invalid id (%d)", seg.ID())
		}
		return err
	}
	if c.json {
		return c.printJSON(toJSON(s))
	}
	printStat(c, s)
	return nil
}

// printStat prints the fields in the layout of ipcs -m -i, with the key,
// the sequence number and the status added.
func printStat(c *cli, s *goshm.Stat) {
	w := c.stdout
	fmt.Fprintf(w, "Shared memory Segment shmid=%d\n", s.ID)
	fmt.Fprintf(w, "key=%s\tseq=%d\n", hexKey(s.Key), s.Seq)
	fmt.Fprintf(w, "uid=%d\tgid=%d\tcuid=%d\tcgid=%d\n", s.UID, s.GID, s.CUID, s.CGID)
	fmt.Fprintf(w, "mode=%#o\taccess_perms=%#04o\tstatus=%s\n", s.Mode, s.Mode&0o777, status(s))
	fmt.Fprintf(w, "bytes=%d\tlpid=%d\tcpid=%d\tnattch=%d\n", s.Size, s.LPID, s.CPID, s.Nattch)
	fmt.Fprintf(w, "att_time=%s\n", ctime(s.Atime))
	fmt.Fprintf(w, "det_time=%s\n", ctime(s.Dtime))
	fmt.Fprintf(w, "change_time=%s\n", ctime(s.Ctime))
}
