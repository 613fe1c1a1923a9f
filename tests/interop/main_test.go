package interop

import (
	"testing"

	"github.com/goshm/goshm/internal/testipc"
)

// As root, the tests run in an IPC namespace of their own
// (internal/testipc): some call the Go package in the test process, and
// what a test leaves in its namespace ends with it, not in the machine's.
func TestMain(m *testing.M) { testipc.Main(m) }
