package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/goshm/goshm/goshm"
)

// Semaphore sets (unless GOSHM_SEM=0): goshm ls shows them after the segments,
// like ipcs -s, and goshm rm --sem / --sem-key removes them, like
// ipcrm -s / -S.

func lsFlags(c *cli, fs *flag.FlagSet) {
	fs.BoolVar(&c.sem, "sem", false, "list semaphore sets only")
}

// semJSON is one set in goshm ls --sem --json.
type semJSON struct {
	SemID  int      `json:"semid"`
	Key    string   `json:"key"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	CUID   uint32   `json:"cuid"`
	CGID   uint32   `json:"cgid"`
	Mode   string   `json:"mode"`
	Nsems  int      `json:"nsems"`
	Otime  int64    `json:"otime"`
	Ctime  int64    `json:"ctime"`
	Values []uint16 `json:"values"`
}

func (c *cli) semSets(st *goshm.Store) ([]goshm.SemStat, error) {
	if st == nil {
		return nil, nil
	}
	return st.SemSets()
}

// printSems prints sets with the columns of ipcs -s, and their values.
func printSems(w io.Writer, dir string, sets []goshm.SemStat) {
	fmt.Fprintf(w, "------ Semaphore Arrays in %s --------\n", dir)
	fmt.Fprintf(w, "%-10s %-10s %-10s %-10s %-10s %s\n", "key", "semid", "owner", "perms", "nsems", "values")
	for i := range sets {
		s := &sets[i]
		vals := make([]string, len(s.Values))
		for k, v := range s.Values {
			vals[k] = fmt.Sprint(v)
		}
		fmt.Fprintf(w, "%s %-10d %-10.10s %-10o %-10d %s\n", hexKey(s.Key), s.ID, userName(s.UID),
			s.Mode&0o777, s.Nsems, strings.Join(vals, ","))
	}
}

// lsSems lists the sets; those the store cannot read (damaged) are left
// out and reported after the others, with exit status 1.
func (c *cli) lsSems(st *goshm.Store) error {
	sets, err := c.semSets(st)
	if err != nil && !errors.Is(err, syscall.EIO) {
		return err
	}
	if err := c.printSemList(sets); err != nil {
		return err
	}
	return c.damagedSems(err)
}

// damagedSems reports each set SemSets could not read, a line each, and
// what removes one; nil when there is none.
func (c *cli) damagedSems(err error) error {
	if err == nil {
		return nil
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(c.stderr, "goshm: damaged semaphore set, not listed: %s\n", line)
	}
	fmt.Fprintf(c.stderr, "goshm: root removes a damaged set with goshm rm --sem ID or "+
		"--sem-key KEY (docs/OPERATORS.md)\n")
	return exitStatus(1)
}

func (c *cli) printSemList(sets []goshm.SemStat) error {
	if c.json {
		out := make([]semJSON, len(sets))
		for i, s := range sets {
			out[i] = semJSON{SemID: s.ID, Key: hexKey(s.Key), UID: s.UID, GID: s.GID, CUID: s.CUID,
				CGID: s.CGID, Mode: fmt.Sprintf("%04o", s.Mode&0o777), Nsems: s.Nsems,
				Otime: epoch(s.Otime), Ctime: epoch(s.Ctime), Values: s.Values}
			if out[i].Values == nil {
				out[i].Values = []uint16{}
			}
		}
		return c.printJSON(out)
	}
	printSems(c.stdout, c.storeDir(), sets)
	return nil
}

// rmSems removes the sets of --sem and --sem-key; report is cmdRm's.
func (c *cli) rmSems(st *goshm.Store, report func(r rmResult, msg, arg string)) error {
	for _, a := range c.semIDs {
		id, err := parseID(a)
		if err != nil {
			return usagef("rm: %v", err)
		}
		r := rmResult{SemID: &id}
		if st == nil {
			report(r, "invalid id", a)
			continue
		}
		report(r, rmWords(st.SemSet(id).Remove(), "id"), a)
	}
	for _, a := range c.semKeys {
		key, err := parseKey(a)
		if err != nil {
			return usagef("rm: %v", err)
		}
		r := rmResult{Key: hexKey(key)}
		if key == goshm.IPC_PRIVATE {
			report(r, "illegal key", a)
			continue
		}
		if st == nil {
			report(r, "invalid key", a)
			continue
		}
		ss, err := st.SemGet(key, 0, 0, 0)
		if err == nil {
			id := ss.ID()
			r.SemID = &id
			err = ss.Remove()
		}
		report(r, rmWords(err, "key"), a)
	}
	return nil
}

// statSem prints one set as ipcs -s -i does, by id or by key.
func (c *cli) statSem(st *goshm.Store, id, key int, statKey string) error {
	ss := st.SemSet(id)
	if statKey != "" {
		var err error
		if ss, err = st.SemGet(key, 0, 0, 0); err != nil {
			if errors.Is(err, syscall.ENOENT) {
				return fmt.Errorf("stat: invalid key (%s)", statKey)
			}
			return err
		}
	}
	s, err := ss.Stat()
	if err != nil {
		if errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("stat: invalid id (%d)", ss.ID())
		}
		return err
	}
	counts, err := ss.Counts(s.Nsems)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(semJSON{SemID: s.ID, Key: hexKey(s.Key), UID: s.UID, GID: s.GID,
			CUID: s.CUID, CGID: s.CGID, Mode: fmt.Sprintf("%04o", s.Mode&0o777), Nsems: s.Nsems,
			Otime: epoch(s.Otime), Ctime: epoch(s.Ctime), Values: s.Values})
	}
	w := c.stdout
	fmt.Fprintf(w, "Semaphore Array semid=%d\n", s.ID)
	fmt.Fprintf(w, "key=%s\tseq=%d\n", hexKey(s.Key), s.Seq)
	fmt.Fprintf(w, "uid=%d\tgid=%d\tcuid=%d\tcgid=%d\n", s.UID, s.GID, s.CUID, s.CGID)
	fmt.Fprintf(w, "mode=%#o, access_perms=%#o\n", s.Mode, s.Mode&0o777)
	fmt.Fprintf(w, "nsems = %d\n", s.Nsems)
	fmt.Fprintf(w, "otime = %s\n", ctime(s.Otime))
	fmt.Fprintf(w, "ctime = %s\n", ctime(s.Ctime))
	fmt.Fprintf(w, "%-10s %-10s %-10s %-10s %-10s\n", "semnum", "value", "ncount", "zcount", "pid")
	for i := 0; i < s.Nsems; i++ {
		v := uint16(0)
		if i < len(s.Values) {
			v = s.Values[i]
		}
		fmt.Fprintf(w, "%-10d %-10d %-10d %-10d %-10d\n", i, v, counts[i].Ncnt, counts[i].Zcnt, counts[i].PID)
	}
	return nil
}
