package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// mmapWrite is mmap_shm_wr: open (creating, 0600), put a byte at offset
// 500 so the file is long enough, map 27 bytes shared, write 'a'..'z'.
func mmapWrite(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return demoError{-1, err}
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{0}, 500); err != nil {
		return demoError{-1, err}
	}
	b, err := unix.Mmap(int(f.Fd()), 0, shmsz, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return demoError{-2, fmt.Errorf("mmap %s: %w", path, err)}
	}
	defer unix.Munmap(b)
	for c := byte('a'); c <= 'z'; c++ {
		b[c-'a'] = c
	}
	return nil
}

// mmapRead is mmap_shm_rd: map 27 bytes of the file and print the letters.
func mmapRead(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return demoError{-1, err}
	}
	defer f.Close()
	b, err := unix.Mmap(int(f.Fd()), 0, shmsz, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return demoError{-2, fmt.Errorf("mmap %s: %w", path, err)}
	}
	defer unix.Munmap(b)
	printLetters(w, b)
	return nil
}
