package main

import (
	"io"

	"github.com/goshm/goshm/goshm"
)

// The write-up's constants.
const (
	key   = 5678
	shmsz = 27
)

// systemvWrite is systemv_shm_wr: shmget(5678, 27, IPC_CREAT|0666), shmat,
// 'a'..'z'.  Like the original it exits attached: the exit detaches.
func systemvWrite() error {
	st, err := goshm.Default()
	if err != nil {
		return demoError{-1, err}
	}
	seg, err := st.Get(key, shmsz, goshm.IPC_CREAT, 0o666)
	if err != nil {
		return demoError{-1, err}
	}
	b, err := seg.Attach(0)
	if err != nil {
		return demoError{-2, err}
	}
	for c := byte('a'); c <= 'z'; c++ {
		b[c-'a'] = c
	}
	return nil
}

// systemvRead is systemv_shm_rd: shmget(5678, 27, 0666) without
// IPC_CREAT, shmat, print the letters.
func systemvRead(w io.Writer) error {
	st, err := goshm.Default()
	if err != nil {
		return demoError{-1, err}
	}
	seg, err := st.Get(key, shmsz, 0, 0o666)
	if err != nil {
		return demoError{-1, err}
	}
	b, err := seg.Attach(0)
	if err != nil {
		return demoError{-2, err}
	}
	printLetters(w, b)
	return nil
}
