package crash

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The model's rules on made-up histories: each must pass what a power cut
// may leave and catch what it may not.

const (
	ms = int64(1e6)
	s  = int64(1e9)
)

// A cut at 100 s, taken in 1 ms; settled: older than 5 s.
var unitCut = cutTimes{start: 100 * s, end: 100*s + ms}

func ev(op byte, inc uint32, a, b, t int64) event {
	return event{op: op, key: 7, inc: inc, a: a, b: b, t: t}
}

// seg is a segment of key 7 as crash_check would report it.
func seg(inc uint32, segsz int64, pages ...pageSeen) *seen {
	return &seen{shmid: 1, segsz: segsz, inc: inc, pages: pages}
}

func pg(lo, hi uint32) pageSeen { return pageSeen{lo: lo, hi: hi} }

func TestModelRules(t *testing.T) {
	// Creation 1 of 2 pages, written and flushed at version 1 long ago,
	// version 2 flushed 10 ms before the cut, version 3 begun.
	flushed := []event{
		ev('C', 1, 8000, 0, 1*s), ev('c', 1, 1, 0, 1*s+ms),
		ev('W', 1, 1, 0, 2*s), ev('S', 1, 1, 2*s+ms, 2*s+2*ms),
		ev('W', 1, 2, 0, 100*s-20*ms), ev('S', 1, 2, 100*s-15*ms, 100*s-10*ms),
		ev('W', 1, 3, 0, 100*s-5*ms),
	}
	// The same, never flushed (mode none): version 1 written long ago,
	// version 2 just before the cut.
	unflushed := []event{
		ev('C', 1, 8000, 0, 1*s), ev('c', 1, 1, 0, 1*s+ms),
		ev('W', 1, 1, 0, 2*s), ev('w', 1, 1, 0, 2*s+ms),
		ev('W', 1, 2, 0, 100*s-20*ms), ev('w', 1, 2, 0, 100*s-10*ms),
	}
	// Creation 1 destroyed long ago, creation 2 made just before the cut.
	recreated := []event{
		ev('C', 1, 4000, 0, 1*s), ev('c', 1, 1, 0, 1*s+ms),
		ev('W', 1, 1, 0, 2*s), ev('w', 1, 1, 0, 2*s+ms),
		ev('R', 1, 0, 0, 3*s), ev('r', 1, 0, 0, 3*s+ms),
		ev('C', 2, 8000, 0, 100*s-ms),
	}
	// Flushed long ago, then a removal begun just before the cut.
	removing := append(append([]event{}, flushed[:4]...), ev('R', 1, 0, 0, 100*s-ms))

	for _, c := range []struct {
		name   string
		events []event
		seen   *seen
		wrong  string // part of the complaint; "" for none
	}{
		{"flushed, newer pages", flushed, seg(1, 8000, pg(2, 3), pg(3, 3)), ""},
		{"flushed, gone", flushed, &seen{absent: true}, "is gone, but it must survive: version 2 flushed"},
		{"flushed, older page", flushed, seg(1, 8000, pg(2, 2), pg(1, 2)), "page 1 holds version 1, older than version 2"},
		{"flushed, torn page", flushed, seg(1, 8000, pg(2, 2), pageSeen{bad: true}), "page 1 is torn"},
		{"flushed, page never written", flushed, seg(1, 8000, pg(2, 2), pg(4, 4)), "version 4, which was not begun"},
		{"flushed, wrong size", flushed, seg(1, 4096, pg(2, 2)), "has 4096 bytes, not 8000"},
		{"flushed, attached", flushed, &seen{segsz: 8000, inc: 1, nattch: 1, pages: []pageSeen{pg(2, 2), pg(2, 2)}}, "shm_nattch 1"},
		{"a creation never begun", flushed, seg(9, 8000, pg(2, 2), pg(2, 2)), "creation 9, which the writer had not begun"},
		{"a call fails", flushed, &seen{err: "shmat EIO"}, "shmat EIO"},
		{"unflushed, settled version", unflushed, seg(1, 8000, pg(1, 1), pg(1, 2)), ""},
		{"unflushed, settled version lost", unflushed, seg(1, 8000, pg(0, 0), pg(1, 1)), "older than version 1 written 98.00s before the cut"},
		{"unflushed, settled segment lost", unflushed, &seen{absent: true}, "must survive: version 1 written 98.00s before the cut"},
		{"recreated, new one", recreated, seg(0, 8000, pg(0, 0), pg(0, 0)), ""},
		{"recreated, none yet", recreated, &seen{absent: true}, ""},
		{"recreated, another segment's bytes", recreated, &seen{segsz: 4000, pages: []pageSeen{{bad: true}}, bad: "page 0 word 0 = 025d00015b77ad7b"}, "holds no word of any creation of its key"},
		{"recreated, old one back", recreated, seg(1, 4000, pg(1, 1)), "creation 1 is back, destroyed 97.00s before the cut"},
		{"removing, gone", removing, &seen{absent: true}, ""},
		{"removing, still there", removing, seg(1, 8000, pg(1, 1), pg(1, 1)), ""},
		{"removing, still there, older", removing, seg(1, 8000, pg(0, 1), pg(1, 1)), "page 0 holds version 0, older than version 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Empty(t, checkEvents(c.events))
			m := newModel(c.events, unitCut, 5*s)
			errs := m.checkKey(7, c.seen)
			if c.wrong == "" {
				assert.Empty(t, errs)
				return
			}
			require.NotEmpty(t, errs)
			assert.Contains(t, errs[0], c.wrong, "%q", errs)
		})
	}
}

func TestModelIgnoresWhatCameAfter(t *testing.T) {
	// Flushed only after the cut ended: nothing is required.
	events := []event{ev('C', 1, 4096, 0, 99*s), ev('c', 1, 1, 0, 99*s+ms),
		ev('W', 1, 1, 0, 100*s-ms), ev('S', 1, 1, 100*s-ms/2, 100*s+2*ms)}
	m := newModel(events, unitCut, 5*s)
	assert.Empty(t, m.checkKey(7, &seen{absent: true}))
	assert.Empty(t, m.checkKey(7, seg(1, 4096, pg(1, 1))))
	// Begun after the cut ended: version 2 cannot be on the copy.
	events = append(events, ev('W', 1, 2, 0, 100*s+3*ms))
	m = newModel(events, unitCut, 5*s)
	assert.NotEmpty(t, m.checkKey(7, seg(1, 4096, pg(2, 2))))
}

func TestCheckStoreListing(t *testing.T) {
	m := newModel([]event{ev('C', 1, 4096, 0, 1*s), ev('c', 1, 5, 0, 1*s+ms)}, unitCut, 5*s)
	st := storeSeen{keys: map[int32]*seen{7: {shmid: 5, segsz: 4096, pages: []pageSeen{pg(0, 0)}}, 8: {absent: true}}}
	st.stats = []statSeen{{idx: 5, shmid: 5, key: 7, segsz: 4096, mode: 0o600}}
	assert.Empty(t, m.checkStore([]int32{7, 8}, st))

	st.stats = append(st.stats, statSeen{idx: 6, shmid: 6, key: 8, segsz: 4096, mode: 0o600})
	assert.Len(t, m.checkStore([]int32{7, 8}, st), 1, "a second segment shmget does not find")
	st.stats[1] = statSeen{idx: 6, shmid: 6, key: 0, segsz: 4096, mode: 0o1600}
	assert.Len(t, m.checkStore([]int32{7, 8}, st), 1, "a removed segment left")
	st.stats = nil
	assert.Len(t, m.checkStore([]int32{7, 8}, st), 1, "a segment SHM_STAT does not list")
}

func TestParseCheck(t *testing.T) {
	st, err := parseCheck("seg 7 32769 8000 0 3 2 2-3\nabsent 8\nseg 9 5 4096 0 1 bad\n" +
		"bad 9 0 17 0001000200000000\nerr 10 shmat EIO\nstat 1 32769 7 8000 600\n" +
		"err 8 create EEXIST\nend\n")
	require.NoError(t, err)
	assert.Equal(t, &seen{shmid: 32769, segsz: 8000, inc: 3, pages: []pageSeen{pg(2, 2), pg(2, 3)}}, st.keys[7])
	assert.True(t, st.keys[8].absent)
	assert.Equal(t, "page 0 word 17 = 0x0001000200000000", st.keys[9].bad)
	assert.Equal(t, "shmat EIO", st.keys[10].err)
	assert.Equal(t, []statSeen{{idx: 1, shmid: 32769, key: 7, segsz: 8000, mode: 0o600}}, st.stats)
	assert.Equal(t, []string{"crash_check: err 8 create EEXIST"}, st.errs, "an absent key that is not free")

	_, err = parseCheck("absent 8\n")
	assert.Error(t, err, "no end: crash_check died")
}

func TestCountInFlight(t *testing.T) {
	events := []event{
		ev('C', 1, 4096, 0, 100*s-ms), ev('c', 1, 1, 0, 100*s+ms), // under way
		ev('W', 1, 1, 0, 100*s+2*ms), ev('S', 1, 1, 100*s+3*ms, 100*s+4*ms), // after
		{op: 'R', key: 8, inc: 1, t: 100*s - ms}, // never ended
	}
	assert.Equal(t, inFlight{creates: 1, removes: 1}, countInFlight(events, unitCut))
}
