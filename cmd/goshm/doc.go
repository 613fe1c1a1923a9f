/*
Goshm is the operator's tool for goshm stores: the directories (GOSHM_DIR)
where libgoshm.so keeps System V shared memory so that it survives
container restarts.

Usage:

	goshm [--dir DIR] [--json] COMMAND [ARGS...]

Commands:

	run      run a program with libgoshm.so preloaded (a Dockerfile's CMD)
	ls       list the store's segments, like ipcs -m, and its POSIX objects
	stat     show every field of one segment, like ipcs -m -i, or a POSIX object
	rm       remove segments, like ipcrm, or POSIX objects (/NAME)
	gc       collect removed segments nobody attaches, and stray files
	sync     flush segments to disk, so that they survive a power cut
	doctor   check that the store, its file system and a program suit goshm
	version  print goshm's version
	help     print this text, or a command's: goshm help COMMAND

Global flags, also accepted after the command:

	--dir DIR   the store (default: $GOSHM_DIR, else /var/lib/goshm)
	--json      print JSON instead of text (ls, stat, rm, gc, sync, doctor, version)
	--help      print help and exit 0

Exit status: 0 success, 1 failure (a message prefixed "goshm: " says
why), 2 usage error.  --help exits 0.

# run

	goshm run [--dir DIR] [--lib PATH|NAME] -- COMMAND [ARGS...]

Run replaces itself (execve: no goshm process stays behind) with COMMAND,
with libgoshm.so put in front of LD_PRELOAD (anything already preloaded
stays, after it) and GOSHM_DIR set to the store.  COMMAND is looked up in
PATH like a shell does.

The library is --lib, else $GOSHM_LIB, else libgoshm.so next to the goshm
binary (same directory, or ../lib/), else /usr/local/lib, else the
multiarch directory (/usr/lib/x86_64-linux-gnu on amd64, where the Debian
package puts it), else /usr/lib.
libgoshm.so is the C build, which brings nothing into the program but the
engine.  A --lib or GOSHM_LIB without a slash is a file name looked for in
those same places: --lib libgoshm-go.so picks the Go c-shared build
installed beside it, which carries a Go runtime (docs/DESIGN.md says
when to prefer it).

A program built against musl (its ELF interpreter is /lib/ld-musl-*, as
in Alpine images) cannot load a glibc library: for it, unless --lib or
GOSHM_LIB says otherwise, run preloads the musl build from those same
places, as musl/libgoshm.so (make builds build/musl/libgoshm.so) or
goshm/musl/libgoshm.so (where make install and the Debian package put
it), and says so in one line on standard error; a library built for the
other C library is refused.

Run refuses, with exit status 1, what LD_PRELOAD cannot reach: a statically
linked program (no ELF interpreter; relink it with -lgoshm instead), a
script whose #! interpreter is static, a program of another ELF class or
machine than the library, a set-user-ID or set-group-ID program, or (for
a caller other than root) a program with file capabilities, that the
loader runs in secure mode, and a missing library or one whose path holds
a space or a colon (LD_PRELOAD is split there).

Example:

	# Dockerfile: the store on a volume, the server under goshm
	VOLUME /var/lib/goshm
	CMD ["goshm", "run", "--", "/app/server", "--port", "8080"]

	goshm run --dir /data/goshm -- ./legacy-server
	goshm run --lib libgoshm-go.so -- ./legacy-server

# ls

	goshm ls [--dir DIR] [--json] [--sem]

Ls lists the store's segments with the columns of ipcs -m: key, shmid,
owner, perms, bytes, nattch and status ("dest" for a segment removed while
still attached, "locked" after SHM_LOCK).  nattch counts the attaches of
every process in every IPC namespace (container) that shares the store.
With --json it prints an array with every shmid_ds field of each segment
(times in seconds since the epoch, 0 for never).

POSIX shared-memory objects (shm_open under GOSHM_POSIX) follow in a
second table, marked POSIX, when the store holds any: name (as shm_open
names it), owner, perms, bytes, and "damaged" for an entry of posix/ that
goshm never makes.  In --json they are elements with "kind": "posix";
segments have "kind": "sysv".
A store that holds System V semaphore sets (served from the store
unless GOSHM_SEM=0) has them listed after the segments with the columns of
ipcs -s (key, semid, owner, perms, nsems) and their values; --sem lists
the sets alone (with --json: semid_ds fields and values).  A set whose
file is missing or damaged cannot be read: it is left out, named on
stderr after the list, and the exit status is 1 (goshm rm removes it).

Example:

	$ goshm ls --dir /data/goshm
	------ Shared Memory Segments in /data/goshm --------
	key        shmid      owner      perms      bytes      nattch     status
	0x0000162e 0          root       666        27         1

# stat

	goshm stat [--dir DIR] [--json] ID
	goshm stat [--dir DIR] [--json] --key KEY
	goshm stat [--dir DIR] [--json] /NAME
	goshm stat [--dir DIR] [--json] --sem ID | --sem --key KEY

Stat prints every field of one segment's struct shmid_ds, by id or by key
(decimal, or hex with 0x).  Like shmctl(IPC_STAT), it needs read permission
on the segment.  A name with a leading slash is a POSIX object's: its
path in the store, owner, mode, size and time of the last change.  With
--sem it prints a semaphore set as ipcs -s -i does: its semid_ds and, per
semaphore, the value, GETNCNT, GETZCNT and GETPID.

Example:

	$ goshm stat --key 0x162e
	Shared memory Segment shmid=0
	key=0x0000162e	seq=0
	uid=0	gid=0	cuid=0	cgid=0
	mode=0666	access_perms=0666	status=
	bytes=27	lpid=41	cpid=40	nattch=1
	att_time=Thu Nov 27 10:01:02 2025
	det_time=Not set
	change_time=Thu Nov 27 10:01:02 2025

# rm

	goshm rm [--dir DIR] [--json] [ID...] [--key KEY]... [--sem ID]... [--sem-key KEY]... [/NAME...]

Rm removes segments as ipcrm -m / -M do: with shmctl(IPC_RMID), under the
kernel's rules (only the owner, the creator or root may: others get
"permission denied").  A segment still attached is marked "dest" and
destroyed at its last detach; its key is free at once.  Each failure is
reported as ipcrm reports it ("invalid id (5)", "permission denied for key
(0x162e)", the key as given); the others are still removed, and the exit status is 1.
A name with a leading slash is a POSIX object's, removed as shm_unlink
does ("invalid POSIX name (/x)" when there is none).

Example:

	goshm rm 0 32769
	goshm rm --key 0x162e --key 5679

--sem and --sem-key remove semaphore sets as ipcrm -s and
-S do: semctl(IPC_RMID), waiters fail with EIDRM.  A set whose file is
missing or damaged keeps its owner there, unreadable: only root may
remove it.

	goshm rm --sem 0 --sem-key 0x5e01

# gc

	goshm gc [--dir DIR] [--json] [--dry-run]

Gc destroys the segments that are removed (dest) and attached nowhere --
their last attach ended in an exit or a kill, where no detach ran -- and
deletes files in the store that no segment owns: files of creations that
were interrupted, the token files of IPC namespaces (containers) that are
gone, and a registry's temporary file left by a first use that a power cut
interrupted.  In the IPC namespace it runs in, it also removes this
store's one-byte presence segments (the kernel segments that count
attaches) that no segment uses any more.  It prints what it removes; with
--dry-run it removes nothing.  It never touches a segment that is attached
or not removed: goshm destroys those too whenever it next looks at them,
so gc is housekeeping, never needed for correctness.  A symbolic link
planted in the store is an error, never followed.  In posix/, it removes
what goshm never makes there (symbolic links, FIFOs, devices, files with
more than one link) and keeps every POSIX object: nothing tells one in
use from a forgotten one; shm_unlink or goshm rm /NAME removes them.
planted in the store is an error, never followed.  Semaphore set files
(sem/set-*) that no set names are removed too; sets themselves live until
IPC_RMID (goshm rm --sem).

Example:

	$ goshm gc --dry-run
	would remove segment 5 (/var/lib/goshm/segments/seg-6)
	would remove file /var/lib/goshm/segments/seg-9.ns0.12
	would remove kernel segment 3 (an unused presence segment of this IPC namespace)

# sync

	goshm sync [--dir DIR] [--json] ID... | --all

Sync flushes segments to disk: their bytes, and what the store needs to
find them again (the registry and the directory entries).  Once it has
printed "flushed", a power cut or a crash of the machine leaves those
segments with the bytes they had when it ran.  Without it, the kernel
writes the pages of a segment back when it chooses (about every 30 s); a
program can flush its own segments with goshm_sync(), or have them flushed
at every shmdt and at exit with GOSHM_SYNC=detach (docs/DURABILITY.md).
An id that is not a segment's is an error ("invalid id"); the others are
still flushed, and the exit status is 1.

Example:

	goshm sync 0 32769
	goshm sync --all     # e.g. from a container's preStop hook

# doctor

	goshm doctor [--dir DIR] [--json] [--binary PATH] [--lib PATH|NAME]

Doctor checks what goshm needs and prints one line per check, OK, WARN or
FAIL:

	store        it exists (or can be created) and is writable; mode 1777
	registry     it is a goshm registry of this version
	filesystem   tmpfs or ramfs loses the store at a restart; a container's
	             writable layer (overlay root, no mount of its own) loses it
	             when the container is recreated: mount a volume on GOSHM_DIR
	space        free space against the space the segments reserve
	kernel       the IPC namespace's shmmax, shmall, shmmni, which goshm
	             does not use (its limits are the kernel's defaults)
	sysv         the kernel's own System V shm works: goshm counts
	             attaches with it
	escapes      the kernel's segments in this IPC namespace that are not
	             goshm's (its one-byte presence segments), with the
	             command line of the process that made them, and its
	             semaphore sets (unless GOSHM_SEM=0): programs goshm did
	             not reach, lost on restart
	leases       file leases work on the store: goshm counts the attaches
	             of other containers with them
	posix        posix/ (POSIX objects under GOSHM_POSIX) is a directory
	             of mode 1777 holding only objects; how many, how big,
	             and which names GOSHM_POSIX serves
	semaphores   whether System V semaphores are served from the store
	             (unless GOSHM_SEM=0), and how many sets the store holds
	library      libgoshm.so is found (as run would find it, --lib as
	             for run), and which build it is: C build (no Go runtime)
	             or Go c-shared build (carries a Go runtime)
	binary       with --binary: LD_PRELOAD can reach the program (as run checks)
	reach        with --binary: what LD_PRELOAD cannot reach in it, or reaches
	             only through goshm's dlopen: a Go program's system calls, a
	             program without the C library, a set-user-ID program, PHP's
	             RTLD_DEEPBIND extensions; and a program linked with -lgoshm
	             after the C library, which reaches goshm only when preloaded

The exit status is 0 when no check FAILs, 1 otherwise.

Example:

	$ goshm doctor --dir /data/goshm --binary /app/server
	OK    store       /data/goshm exists, mode 1777, writable by uid 0
	OK    registry    2 segment(s) (highest index 1) of at most 4096
	WARN  filesystem  /data/goshm is on overlay (mounted at /): a container's ...
	...
	OK    binary      /app/server can be preloaded (dynamically linked, ...)

# version

	goshm version [--json] [--lib PATH|NAME]

Version prints goshm's version (the engine's, which the libraries of the
same build share) and the Go version it was built with, then the library
run would preload (--lib as for run) and which build it is: "C build (no
Go runtime)" or "Go c-shared build (carries a Go runtime)", from its ELF
file.

Example:

	$ goshm version
	goshm 0.1.0 (go1.26.8 linux/amd64)
	library /usr/local/lib/libgoshm.so: C build (no Go runtime)
*/
package main
