package goshm_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/goshm/goshm/goshm"
)

// tempStore makes a throwaway store for the examples.
func tempStore() (*goshm.Store, func()) {
	dir, err := os.MkdirTemp("", "goshm-example-")
	if err != nil {
		log.Fatal(err)
	}
	st, err := goshm.Open(filepath.Join(dir, "store"))
	if err != nil {
		log.Fatal(err)
	}
	return st, func() { os.RemoveAll(dir) }
}

// The write-up's writer and reader in one program: create key 5678, write
// 'a'..'z', and read them back through a second attach, as another
// process (Go or C under libgoshm) would.
func Example() {
	st, cleanup := tempStore()
	defer cleanup()

	seg, err := st.Get(5678, 27, goshm.IPC_CREAT|goshm.IPC_EXCL, 0o666)
	if err != nil {
		log.Fatal(err)
	}
	b, err := seg.Attach(0)
	if err != nil {
		log.Fatal(err)
	}
	for i := range 26 {
		b[i] = byte('a' + i)
	}

	// The reader finds the segment by key, without IPC_CREAT.
	rd, err := st.Get(5678, 27, 0, 0o666)
	if err != nil {
		log.Fatal(err)
	}
	r, err := rd.Attach(goshm.SHM_RDONLY)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(r[:26]))

	s, err := seg.Stat()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("id", s.ID, "size", s.Size, "nattch", s.Nattch, "perm", s.Perm())

	if err := rd.Detach(r); err != nil {
		log.Fatal(err)
	}
	if err := seg.Detach(b); err != nil {
		log.Fatal(err)
	}
	if err := seg.Remove(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// abcdefghijklmnopqrstuvwxyz
	// id 0 size 27 nattch 2 perm -rw-rw-rw-
}

// Errors wrap the errno that Linux gives, with the call and the store.
func ExampleStore_Get_errors() {
	st, cleanup := tempStore()
	defer cleanup()

	_, err := st.Get(0x1234, 4096, 0, 0o600)
	fmt.Println(errors.Is(err, unix.ENOENT))

	if _, err := st.Get(0x1234, 4096, goshm.IPC_CREAT, 0o600); err != nil {
		log.Fatal(err)
	}
	_, err = st.Get(0x1234, 4096, goshm.IPC_CREAT|goshm.IPC_EXCL, 0o600)
	var op *goshm.OpError
	fmt.Println(errors.Is(err, unix.EEXIST), errors.As(err, &op) && op.Op == "shmget")
	// Output:
	// true
	// true true
}

// List works like ipcs -m: every segment of the store, with its
// shmid_ds.
func ExampleStore_List() {
	st, cleanup := tempStore()
	defer cleanup()

	for i, size := range []int{100, 200, 300} {
		if _, err := st.Get(0x100+i, size, goshm.IPC_CREAT, 0o640); err != nil {
			log.Fatal(err)
		}
	}
	segs, err := st.List()
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range segs {
		fmt.Printf("key 0x%08x id %d bytes %d perms %o\n", s.Key, s.ID, s.Size, s.Perm())
	}
	// Output:
	// key 0x00000100 id 0 bytes 100 perms 640
	// key 0x00000101 id 1 bytes 200 perms 640
	// key 0x00000102 id 2 bytes 300 perms 640
}

// A removed segment lives until its last detach; GC reports nothing while
// it is attached, and the detach itself destroys it.
func ExampleStore_GC() {
	st, cleanup := tempStore()
	defer cleanup()

	seg, err := st.Get(goshm.IPC_PRIVATE, 4096, goshm.IPC_CREAT, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	b, err := seg.Attach(0)
	if err != nil {
		log.Fatal(err)
	}
	if err := seg.Remove(); err != nil {
		log.Fatal(err)
	}
	items, err := st.GC(false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("collected while attached:", len(items))
	if err := seg.Detach(b); err != nil {
		log.Fatal(err)
	}
	_, err = seg.Stat()
	fmt.Println("after the last detach:", errors.Is(err, unix.EINVAL))
	// Output:
	// collected while attached: 0
	// after the last detach: true
}
