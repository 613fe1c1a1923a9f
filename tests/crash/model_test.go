package crash

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// event is one line of a crash_writer (tests/cprogs/crash_writer.c).
type event struct {
	op   byte // C c W w S R r
	key  int32
	inc  uint32
	a, b int64 // C: segsz; c: shmid; W, w, S: version; S: b is when the flush began
	t    int64 // CLOCK_MONOTONIC, ns
}

func parseEvent(line string) (event, error) {
	f := strings.Fields(line)
	if len(f) != 6 || len(f[0]) != 1 || !strings.Contains("CcWwSRr", f[0]) {
		return event{}, fmt.Errorf("unreadable line %q", line)
	}
	var n [5]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return event{}, fmt.Errorf("unreadable line %q: %v", line, err)
		}
		n[i] = v
	}
	return event{op: f[0][0], key: int32(n[0]), inc: uint32(n[1]), a: n[2], b: n[3], t: n[4]}, nil
}

// pageSeen is one page of a segment as crash_check read it.
type pageSeen struct {
	lo, hi uint32 // versions of its words (0: never written)
	bad    bool   // a word that is not this segment's (see crash_page.h)
}

// seen is what crash_check found for one key.
type seen struct {
	absent bool
	err    string // a call that failed, and its errno
	shmid  int
	segsz  int64
	nattch int
	inc    uint32 // the creation its words name; 0: every word is 0
	pages  []pageSeen
	bad    string // the first bad word: "page P word W = VALUE"
}

// statSeen is one segment of the store by index (SHM_STAT).
type statSeen struct {
	idx, shmid int
	key        int32
	segsz      int64
	mode       uint32
}

// storeSeen is the whole output of crash_check.
type storeSeen struct {
	keys  map[int32]*seen
	stats []statSeen
	errs  []string // failed calls that are not about one key
}

func parseCheck(out string) (storeSeen, error) {
	st := storeSeen{keys: map[int32]*seen{}}
	ended := false
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f := strings.Fields(line)
		bad := fmt.Errorf("crash_check printed %q", line)
		if len(f) == 0 || ended {
			return st, bad
		}
		num := func(i int) int64 {
			if i >= len(f) {
				return -1
			}
			v, err := strconv.ParseInt(f[i], 0, 64)
			if err != nil {
				return -1
			}
			return v
		}
		key := int32(num(1))
		switch f[0] {
		case "absent":
			st.keys[key] = &seen{absent: true}
		case "err":
			if len(f) != 4 {
				return st, bad
			}
			switch f[2] {
			case "shmget", "IPC_STAT", "shmat":
				if st.keys[key] != nil {
					return st, bad
				}
				st.keys[key] = &seen{err: f[2] + " " + f[3]}
			default: // shmdt, SHM_INFO, SHM_STAT, and using the store afterwards
				st.errs = append(st.errs, "crash_check: "+line)
			}
		case "seg":
			if len(f) < 6 {
				return st, bad
			}
			s := &seen{shmid: int(num(2)), segsz: num(3), nattch: int(num(4)), inc: uint32(num(5))}
			for _, p := range f[6:] {
				var ps pageSeen
				lo, hi, mixed := strings.Cut(p, "-")
				switch {
				case p == "bad":
					ps.bad = true
				case mixed:
					l, err1 := strconv.ParseUint(lo, 10, 32)
					h, err2 := strconv.ParseUint(hi, 10, 32)
					if err1 != nil || err2 != nil {
						return st, bad
					}
					ps.lo, ps.hi = uint32(l), uint32(h)
				default:
					v, err := strconv.ParseUint(p, 10, 32)
					if err != nil {
						return st, bad
					}
					ps.lo, ps.hi = uint32(v), uint32(v)
				}
				s.pages = append(s.pages, ps)
			}
			st.keys[key] = s
		case "bad":
			if len(f) != 5 || st.keys[key] == nil {
				return st, bad
			}
			st.keys[key].bad = fmt.Sprintf("page %s word %s = 0x%s", f[2], f[3], f[4])
		case "stat":
			if len(f) != 6 {
				return st, bad
			}
			mode, err := strconv.ParseUint(f[5], 8, 32)
			if err != nil {
				return st, bad
			}
			st.stats = append(st.stats, statSeen{idx: int(num(1)), shmid: int(num(2)),
				key: int32(num(3)), segsz: num(4), mode: uint32(mode)})
		case "end":
			ended = true
		default:
			return st, bad
		}
	}
	if !ended {
		return st, fmt.Errorf("crash_check did not finish")
	}
	return st, nil
}

// cutTimes is when the copy of the disk was taken: at one instant between
// start and end (CLOCK_MONOTONIC, ns).
type cutTimes struct {
	start, end int64
}

// life is one creation of a key, as its writer's events tell it up to a
// cut.
type life struct {
	inc       uint32
	segsz     int64
	created   int64  // when shmget returned (0: not before the cut ended)
	written   uint32 // highest version the writer began to write before the cut ended
	lower     uint32 // lowest version every page must hold if it is there
	why       string // why lower
	removing  bool   // IPC_RMID may have begun before the cut ended
	removed   int64  // when it was destroyed (0: not before the cut ended)
	mustExist string // why it must be there, if it must
}

// model is what may and must be in a store after a cut, by key.
type model struct {
	cut    cutTimes
	settle int64 // what is older than this before the cut reached the disk
	lives  map[int32][]*life
}

func secs(ns int64) string { return fmt.Sprintf("%.2fs", float64(ns)/1e9) }

// newModel reads the writers' events.  Only events whose step began
// before the cut ended may show on the disk; only those that ended before
// it began must:
//   - a version flushed (S) before the cut, or written or flushed more than
//     settle before it, is the lowest a page of that creation may hold;
//   - the last creation of a key must be there if it was flushed, or made
//     more than settle before the cut, and nobody set out to remove it;
//   - a key whose last creation was destroyed more than settle before the
//     cut must be absent.
func newModel(events []event, cut cutTimes, settle int64) *model {
	m := &model{cut: cut, settle: settle, lives: map[int32][]*life{}}
	old := cut.start - settle
	for _, e := range events {
		if e.t >= cut.end {
			continue
		}
		ls := m.lives[e.key]
		var l *life
		if e.op == 'C' {
			l = &life{inc: e.inc, segsz: e.a}
			m.lives[e.key] = append(ls, l)
			continue
		}
		if len(ls) == 0 || ls[len(ls)-1].inc != e.inc {
			continue // reported by checkEvents
		}
		l = ls[len(ls)-1]
		raise := func(v uint32, why string) {
			if v > l.lower {
				l.lower, l.why = v, why
			}
		}
		switch e.op {
		case 'c':
			l.created = e.t
		case 'W':
			l.written = uint32(e.a)
		case 'S':
			if e.t < cut.start {
				raise(uint32(e.a), fmt.Sprintf("flushed %s before the cut", secs(cut.start-e.t)))
			}
		case 'w':
			if e.t < old {
				raise(uint32(e.a), fmt.Sprintf("written %s before the cut", secs(cut.start-e.t)))
			}
		case 'R':
			l.removing = true
		case 'r':
			l.removed = e.t
		}
	}
	for _, ls := range m.lives {
		l := ls[len(ls)-1]
		switch {
		case l.removing:
		case l.lower > 0:
			l.mustExist = "version " + strconv.Itoa(int(l.lower)) + " " + l.why
		case l.created != 0 && l.created < old:
			l.mustExist = "created " + secs(cut.start-l.created) + " before the cut"
		}
	}
	return m
}

// checkKey compares what crash_check found for key with the model, and
// returns what is wrong.
func (m *model) checkKey(key int32, s *seen) []string {
	var errs []string
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Sprintf("key %#x: ", uint32(key))+fmt.Sprintf(format, args...))
	}
	ls := m.lives[key]
	var last *life
	if len(ls) > 0 {
		last = ls[len(ls)-1]
	}
	switch {
	case s == nil:
		bad("crash_check said nothing about it")
		return errs
	case s.err != "":
		bad("%s", s.err)
		return errs
	case s.absent:
		if last != nil && last.mustExist != "" {
			bad("creation %d is gone, but it must survive: %s", last.inc, last.mustExist)
		}
		return errs
	}

	// Present: which creation is it?  A segment with no word of its key
	// at all holds another segment's bytes; naming a creation of its size
	// would only mislead.
	if s.inc == 0 && slices.ContainsFunc(s.pages, func(p pageSeen) bool { return p.bad }) {
		bad("a segment of %d bytes holds no word of any creation of its key, but another "+
			"segment's or garbage: %s", s.segsz, s.bad)
		return errs
	}
	// When no word was written (inc 0), the latest of its size,
	// preferably one that may be unwritten.
	var l *life
	for _, c := range ls {
		switch {
		case s.inc != 0 && c.inc == s.inc:
			l = c
		case s.inc == 0 && c.segsz == s.segsz && (l == nil || l.lower > 0 || c.lower == 0):
			l = c
		}
	}
	if l == nil {
		bad("a segment of %d bytes whose pages name creation %d, which the writer had not begun "+
			"before the cut (pages: %v)", s.segsz, s.inc, s.pages)
		return errs
	}
	if last.mustExist != "" && l != last {
		bad("creation %d is there instead of creation %d, which must survive: %s",
			l.inc, last.inc, last.mustExist)
	}
	if l == last && l.removed != 0 && l.removed < m.cut.start-m.settle {
		bad("creation %d is back, destroyed %s before the cut", l.inc, secs(m.cut.start-l.removed))
	}
	if l != last {
		if next := ls[slices.Index(ls, l)+1]; l.removed == 0 {
			bad("creation %d is there, but it was never removed before creation %d", l.inc, next.inc)
		} else if l.removed < m.cut.start-m.settle {
			bad("creation %d is back, destroyed %s before the cut", l.inc, secs(m.cut.start-l.removed))
		}
	}
	if s.segsz != l.segsz {
		bad("creation %d has %d bytes, not %d", l.inc, s.segsz, l.segsz)
	}
	if want := int((l.segsz + 4095) / 4096); len(s.pages) != want {
		bad("creation %d: crash_check read %d pages, not %d", l.inc, len(s.pages), want)
	}
	if s.nattch != 0 {
		bad("shm_nattch %d after a reboot", s.nattch)
	}
	for i, p := range s.pages {
		switch {
		case p.bad:
			bad("creation %d, page %d is torn or not its own: %s", l.inc, i, s.bad)
		case p.lo < l.lower:
			bad("creation %d, page %d holds version %d, older than version %d %s",
				l.inc, i, p.lo, l.lower, l.why)
		case p.hi > l.written:
			bad("creation %d, page %d holds version %d, which was not begun before the cut "+
				"(last: %d)", l.inc, i, p.hi, l.written)
		}
	}
	return errs
}

// checkStore compares a whole store with the model: every key of the
// store's writers, and the list of its segments, in which every segment
// must be the one found by its key (no removed segment, no second
// segment of a key, nothing half made).
func (m *model) checkStore(keys []int32, st storeSeen) []string {
	var errs []string
	errs = append(errs, st.errs...)
	mine := map[int32]bool{}
	for _, k := range keys {
		mine[k] = true
		errs = append(errs, m.checkKey(k, st.keys[k])...)
	}
	for _, s := range st.stats {
		byKey := st.keys[s.key]
		switch {
		case !mine[s.key]:
			errs = append(errs, fmt.Sprintf("index %d: a segment of key %#x, not a writer's key", s.idx, uint32(s.key)))
		case byKey == nil || byKey.absent || byKey.shmid != s.shmid:
			errs = append(errs, fmt.Sprintf("index %d: segment %d of key %#x is not the one shmget finds",
				s.idx, s.shmid, uint32(s.key)))
		case s.mode&0o1000 != 0:
			errs = append(errs, fmt.Sprintf("index %d: segment %d is still marked removed after the repair",
				s.idx, s.shmid))
		}
	}
	for _, k := range keys {
		if s := st.keys[k]; s != nil && !s.absent && s.err == "" {
			listed := false
			for _, x := range st.stats {
				listed = listed || x.shmid == s.shmid
			}
			if !listed {
				errs = append(errs, fmt.Sprintf("key %#x: segment %d is not listed by SHM_STAT", uint32(k), s.shmid))
			}
		}
	}
	return errs
}

// inFlight counts the writers' steps under way when the copy began (when
// the clone takes the file's lock, and writes stop reaching the copy).
// Only a statistic: the model does not take the cut for that instant.
type inFlight struct {
	creates, writes, flushes, removes int
}

func countInFlight(events []event, cut cutTimes) inFlight {
	var n inFlight
	open := map[int32]event{} // the key's last step begun
	for _, e := range events {
		switch e.op {
		case 'C', 'W', 'R':
			open[e.key] = e
			continue
		}
		begun, ok := open[e.key]
		if !ok {
			continue
		}
		delete(open, e.key)
		if e.op == 'S' && e.b < cut.start && e.t > cut.start {
			n.flushes++
		}
		end := e.t
		if e.op == 'S' {
			end = e.b // the write ended where the flush began
		}
		if begun.t < cut.start && end > cut.start {
			switch begun.op {
			case 'C':
				n.creates++
			case 'W':
				n.writes++
			case 'R':
				n.removes++
			}
		}
	}
	for _, e := range open {
		if e.t < cut.start {
			switch e.op {
			case 'C':
				n.creates++
			case 'W':
				n.writes++
			case 'R':
				n.removes++
			}
		}
	}
	return n
}

// checkEvents says what is wrong with a writer's events as a sequence.
func checkEvents(events []event) []string {
	var errs []string
	type state struct {
		inc     uint32
		present bool
		op      byte
	}
	keys := map[int32]*state{}
	for _, e := range events {
		k := keys[e.key]
		if k == nil {
			k = &state{}
			keys[e.key] = k
		}
		ok := true
		switch e.op {
		case 'C':
			ok = !k.present && e.inc == k.inc+1
			k.inc, k.present = e.inc, true
		default:
			ok = k.present && e.inc == k.inc
			if e.op == 'r' {
				k.present = false
			}
		}
		if !ok {
			errs = append(errs, fmt.Sprintf("key %#x: %c of creation %d out of order", uint32(e.key), e.op, e.inc))
		}
		k.op = e.op
	}
	return errs
}
