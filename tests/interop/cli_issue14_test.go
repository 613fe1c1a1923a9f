package interop

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/goshm"
	"github.com/goshm/goshm/tests/internal/testenv"
)

// Issue 14, defect 14 (help): `goshm help help` is help, like `goshm
// help` and `goshm help gc`: exit status 0 (it was 2, a usage error),
// and the text on standard output.
func TestCLIHelpHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"help", "gc"}, {"help", "help"}} {
		r := testenv.Run(t, testenv.Opts{}, append([]string{goshmBin(t)}, args...)...)
		assert.Equal(t, 0, r.Code, "goshm %v\n%s", args, r)
		assert.NotEmpty(t, r.Stdout, "goshm %v prints help", args)
		assert.Empty(t, r.Stderr, "goshm %v", args)
	}
}

// Issue 14, defect 14 (doctor and gc): doctor tests leases on a file it
// makes in segments/, and a gc running meanwhile took that file for a
// leftover and deleted it, so that doctor reported its check as failed
// (or could not test).  Doctor runs in a loop while gc runs in others
// (the command, and the Go API in a tight loop, which widens the race);
// every doctor run must pass its leases check and exit 0.
func TestDoctorBesideGC(t *testing.T) {
	testenv.RequireRoot(t)
	store := testenv.NewStore(t)
	st, err := goshm.Open(store)
	require.NoError(t, err)
	seg, err := st.Get(0x1414, 4096, goshm.IPC_CREAT, 0o600) // a store with segments/
	require.NoError(t, err)
	t.Cleanup(func() { _ = seg.Remove() })

	var stop atomic.Bool
	var wg sync.WaitGroup
	var gcRuns, gcErrs atomic.Int64
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := st.GC(false); err != nil {
					gcErrs.Add(1)
				}
				gcRuns.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if r := testenv.Run(t, testenv.Opts{Store: store}, goshmBin(t), "gc"); r.Code != 0 {
				gcErrs.Add(1)
			}
			gcRuns.Add(1)
		}
	}()

	var failures []string
	runs := 0
	for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline); runs++ {
		r := testenv.Run(t, testenv.Opts{Store: store}, goshmBin(t), "doctor", "--json")
		var out struct {
			Checks []map[string]string `json:"checks"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
			failures = append(failures, r.String())
			continue
		}
		for _, c := range out.Checks {
			if c["name"] == "leases" && c["status"] != "OK" {
				failures = append(failures, c["status"]+" "+c["message"])
			}
		}
		if r.Code != 0 {
			failures = append(failures, r.String())
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d doctor runs beside %d gc runs", runs, gcRuns.Load())
	assert.Zero(t, gcErrs.Load(), "gc runs that failed")
	if len(failures) > 3 {
		failures = append(failures[:3], "...")
	}
	assert.Empty(t, failures, "doctor runs that failed (of %d)", runs)
}
