/*
 * token.c - the token files that tell other IPC namespaces whether a
 * namespace still has processes attached (presence.c explains why).
 *
 * Each namespace that attaches a segment has a token file,
 * segments/seg-<gen>.ns<k>.<tgen>, and every process of that namespace
 * that has attached the segment keeps it mapped (read-only, from a
 * descriptor opened for writing) for as long as it lives or until it drops
 * it from its cache (attach_table.c).  A reader in another namespace asks
 * the kernel whether anybody maps it with a read-lease probe: F_SETLEASE
 * F_RDLCK fails with EAGAIN while any process has the file open for
 * writing, and a shared mapping holds it open.
 *
 * Tokens are opened, and probed, only under the registry lock: an open for
 * writing breaks a lease, and the lease holder would get SIGIO.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Create token k of segment idx under a new name (O_EXCL: never over an
 * existing file) and record it in the slot. */
int gs_token_create(struct gs_locked *l, unsigned idx, unsigned k)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	struct gs_name name;
	int fd = -EEXIST;
	uint32_t tgen = 0;
	for (int tries = 0; tries < 16 && fd == -EEXIST; tries++) {
		gs_write(l);
		l->hdr->pending_gen = sl->gen; /* until the slot names the token */
		tgen = (uint32_t)(l->hdr->next_gen++ & 0xffffffffu);
		if (!tgen)
			tgen = (uint32_t)(l->hdr->next_gen++ & 0xffffffffu);
		gs_write_done(l); /* the file's creation is no reader's business */
		gs_token_name(sl->gen, k, tgen, &name);
		fd = gs_open_in(l->store, GS_SEGMENT_DIR, name.s,
		                O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0666);
	}
	int r = fd < 0 ? fd : 0;
	if (fd >= 0) {
		r = (fchmod(fd, 0666) < 0 || ftruncate(fd, gs_page_size()) < 0) ? -errno : 0;
		close(fd);
		if (r < 0)
			gs_unlink_in(l->store, name.s);
	}
	gs_write(l);
	l->hdr->pending_gen = 0;
	if (r < 0) {
		/* No inode or block left for a token: shmat's errno for "out
		 * of a resource" is ENOMEM; ENOSPC is not one of shmat's. */
		if (r == -ENOSPC || r == -EDQUOT) {
			gs_warn_store(l->store, "cannot create a token file", r,
			              "free space or inodes on its file system");
			return -ENOMEM;
		}
		return gs_store_error(l->store, "cannot create a token file", r,
		                      "make its segments directory writable (mode 777)");
	}
	sl->ns[k].token_gen = tgen;
	return 0;
}

/* Map our namespace's token of segment idx; the process keeps it
 * (attach_table.c).  A token file that was deleted is made again: the
 * segment must stay attachable (goshm gc would find nothing to repair). */
int gs_token_map(struct gs_locked *l, unsigned idx, int nsk, void **token)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	struct gs_name name;
	gs_token_name(sl->gen, (unsigned)nsk, sl->ns[nsk].token_gen, &name);
	int fd = gs_open_in(l->store, GS_SEGMENT_DIR, name.s, O_RDWR | O_NONBLOCK, 0);
	if (fd == -ENOENT) {
		int r = gs_token_create(l, idx, (unsigned)nsk);
		if (r < 0)
			return r;
		gs_token_name(sl->gen, (unsigned)nsk, sl->ns[nsk].token_gen, &name);
		fd = gs_open_in(l->store, GS_SEGMENT_DIR, name.s, O_RDWR | O_NONBLOCK, 0);
	}
	if (fd < 0)
		return gs_store_error(l->store, "cannot open a token file", fd, NULL);
	struct stat st;
	int r = gs_check_file(fd, &st);
	if (r < 0) {
		close(fd);
		gs_warn_store(l->store, "a token file is not a regular file", EIO,
		              "the store was damaged; run goshm gc");
		return -EIO;
	}
	/* Opened for writing, so that other namespaces' lease probes see it;
	 * mapped read-only, since nobody ever writes it. */
	void *t = mmap(NULL, (size_t)gs_page_size(), PROT_READ, MAP_SHARED, fd, 0);
	r = t == MAP_FAILED ? -errno : 0;
	close(fd);
	if (r < 0)
		return r == -ENOMEM ? r : gs_store_error(l->store, "cannot map a token file", r, NULL);
	*token = t;
	return 0;
}

void gs_token_unlink(struct gs_locked *l, const struct gs_slot *sl, unsigned k)
{
	struct gs_name name;
	gs_token_name(sl->gen, k, sl->ns[k].token_gen, &name);
	gs_unlink_in(l->store, name.s);
}

/* F_SETLEASE F_RDLCK on fd: 0 taken (and dropped), or -errno. */
static int try_lease(int fd)
{
	return gs_lease_probe(fd, F_RDLCK);
}

/*
 * A lease needs the file's owner or CAP_LEASE, which Docker does not grant.
 * Root in a container (CAP_SETUID) takes another user's token's lease as
 * that user: setfsuid() changes only this thread's file-system uid, for
 * the length of one fcntl, and the thread's effective capabilities, which
 * a change of fsuid away from 0 clears, are put back as they were.
 */
static int lease_as_owner(int fd)
{
	struct stat st;
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
	if (fstat(fd, &st) < 0 || !gs_has_cap(CAP_SETUID) ||
	    gs_syscall(SYS_capget, &hdr, caps) < 0)
		return -EACCES;
	uid_t prev = (uid_t)gs_syscall(SYS_setfsuid, st.st_uid);
	int r = try_lease(fd);
	gs_syscall(SYS_setfsuid, prev);
	gs_syscall(SYS_capset, &hdr, caps);
	return r;
}

/* 1: someone maps token k of segment idx, 0: nobody does, -1: cannot tell. */
int gs_token_alive(struct gs_locked *l, unsigned idx, unsigned k)
{
	struct gs_slot *sl = gs_slot_at(l, idx);
	struct gs_name name;
	struct stat st;
	gs_token_name(sl->gen, k, sl->ns[k].token_gen, &name);
	int fd = gs_open_in(l->store, GS_SEGMENT_DIR, name.s, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return fd == -ENOENT ? 0 : -1;
	if (gs_check_file(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	/* Every process that opens a token does so holding the registry lock,
	 * as we do now, so nobody can break this lease while we hold it. */
	int r = try_lease(fd);
	if (r == -EACCES)
		r = lease_as_owner(fd);
	close(fd);
	return r == 0 ? 0 : r == -EAGAIN ? 1 : -1;
}
