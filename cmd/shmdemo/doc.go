/*
Shmdemo runs the four demos of the write-up that started goshm ("Docker
containers and shared memory"), with the messages of the original
programs, so that their output can be compared line by line.

Usage:

	shmdemo systemv-wr         create key 5678 (27 bytes), write 'a'..'z'
	shmdemo systemv-rd         find key 5678 and print its 26 letters
	shmdemo mmap-wr [PATH]     map PATH (default ./shm.txt) shared, write 'a'..'z'
	shmdemo mmap-rd [PATH]     map PATH and print its 26 letters
	shmdemo --help             print this text

The System V pair uses package goshm, so its segment lives in the store
(GOSHM_DIR, default /var/lib/goshm) and survives a container restart; C
programs under libgoshm.so share it.  The mmap pair maps a regular file,
the write-up's other mechanism.

On failure the original message goes to standard output ("SystemV Share
Memory Create and Read Error: -1": -1 for shmget or open, -2 for shmat or
mmap) and the reason to standard error.

Exit status: 0 success, 1 failure, 2 usage error.

Example:

	$ GOSHM_DIR=/data/goshm shmdemo systemv-wr
	SystemV Share Memory Create and Write Ok
	$ GOSHM_DIR=/data/goshm shmdemo systemv-rd
	a b c d e f g h i j k l m n o p q r s t u v w x y z
	SystemV Share Memory Create and Read Ok
*/
package main
