package integration

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// A library loaded with dlopen(), as a Python program loads the goshm_*
// API with ctypes, does not see the program's seteuid(): the program's
// call binds to the C library's.  So it must not keep the ids it read
// (capi/engine/creds.c keeps them only where the program's calls reach its
// watch): root's 0600 segment is refused to euid 1000 and granted to root
// again, as the kernel would answer.  Both builds: the Go one is linked
// -Bsymbolic, where a lookup from inside the library finds its own
// definitions first.
func TestDlopenedLibraryJudgesByCurrentIds(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/creds_dlopen")
	for name, lib := range map[string]string{"libgoshm.so": testenv.CLib(t), "libgoshm-go.so": testenv.GoLib(t)} {
		t.Run(name, func(t *testing.T) {
			r := testenv.Run(t, testenv.Opts{NewIPC: true, Store: testenv.NewStore(t)}, prog, lib)
			require.Equal(t, 0, r.Code, r.String())
			assert.Equal(t, "IPC_STAT as euid 0 = 0\n"+
				"seteuid(1000) = 0\n"+
				"IPC_STAT as euid 1000 = EACCES\n"+
				"seteuid(0) = 0\n"+
				"IPC_STAT as euid 0 = 0\n", r.Stdout)
		})
	}
}
