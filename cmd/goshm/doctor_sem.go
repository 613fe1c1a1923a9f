package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/goshm/goshm/goshm"
)

// checkSemaphores says whether semaphores are served from the store
// (unless GOSHM_SEM=0 in doctor's environment, as in the program's) and
// how many sets the store holds.
func (d *doctor) checkSemaphores() {
	mode := "served from the store (GOSHM_SEM=0 leaves them to the kernel)"
	if d.c.getenv("GOSHM_SEM") == "0" {
		mode = "left to the kernel (GOSHM_SEM=0)"
	}
	reg := filepath.Join(d.dir, "sem", "registry")
	if _, err := os.Stat(reg); errors.Is(err, os.ErrNotExist) {
		d.add("semaphores", statusOK, "%s; no set yet", mode)
		return
	}
	st, err := goshm.Open(d.dir) // d.store() wants the shm registry
	if err != nil {
		d.add("semaphores", statusFail, "%v", err)
		return
	}
	sets, err := st.SemSets()
	if err != nil {
		d.add("semaphores", statusFail, "%v", err)
		return
	}
	d.add("semaphores", statusOK, "%s; %d set(s) in the store", mode, len(sets))
}
