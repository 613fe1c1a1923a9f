/*
 * perm.c - the kernel's permission rules for System V IPC (ipc/util.c):
 * ipcperms() for access, owner-or-capability for changes.
 */
#include "engine.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Effective capabilities of the calling thread, straight from the kernel:
 * root in a user namespace or a container without some capability must be
 * judged as the kernel judges it. */
int gs_has_cap(int cap)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	if (gs_syscall(SYS_capget, &hdr, data) < 0)
		return 0;
	return (data[cap / 32].effective >> (cap % 32)) & 1;
}

/* Supplementary groups kept on the stack; a longer list (up to 65536) is
 * read into a temporary mapping: the caller's thread may have a small
 * stack, and the engine stays out of the allocator. */
#define GS_GROUPS_ON_STACK 64

static int in_groups(gid_t gid)
{
	gid_t small[GS_GROUPS_ON_STACK], *groups = small;
	int n = getgroups(0, NULL), found = 0;
	size_t len = 0;
	if (n <= 0)
		return 0;
	if (n > GS_GROUPS_ON_STACK) {
		len = (size_t)n * sizeof *groups;
		groups = mmap(NULL, len, PROT_READ | PROT_WRITE,
		              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (groups == MAP_FAILED)
			return 0;
	}
	n = getgroups(n, groups); /* -1 if the list grew meanwhile */
	for (int i = 0; i < n && !found; i++)
		found = groups[i] == gid;
	if (groups != small)
		munmap(groups, len);
	return found;
}

/* in_group_p(): the file-system gid and the supplementary groups.  The
 * fsgid follows the egid unless the program set it with setfsgid(2);
 * setfsgid(-1) changes nothing and returns it. */
int gs_in_group(gid_t gid)
{
	if ((gid_t)gs_syscall(SYS_setfsgid, (gid_t)-1) == gid)
		return 1;
	return in_groups(gid);
}

/* ipcperms() on the owner, creator and mode given (a segment's slot, a
 * semaphore set's header): flag holds the requested mode bits (S_IRUGO
 * etc.). */
int gs_ipcperms_ids(uint32_t uid, uint32_t gid, uint32_t cuid, uint32_t cgid,
                    uint32_t mode, int flag)
{
	uid_t euid = gs_euid();
	int requested = (flag >> 6) | (flag >> 3) | flag;
	int granted = (int)mode;
	if (euid == cuid || euid == uid)
		granted >>= 6;
	else if (gs_in_group(cgid) || gs_in_group(gid))
		granted >>= 3;
	if ((requested & ~granted & 0007) && !gs_has_cap(CAP_IPC_OWNER))
		return -EACCES;
	return 0;
}

int gs_ipcperms(const struct gs_slot *sl, int flag)
{
	return gs_ipcperms_ids(sl->uid, sl->gid, sl->cuid, sl->cgid, sl->mode, flag);
}

/*
 * ipcperms() for the lock-free paths: 0 granted, or GS_SNAP_RETRY when the
 * answer needs more than the effective uid -- the groups (a system call or
 * two) or a capability, which only a refusal can need.  The kernel's rule
 * picks one class of bits: the owner's, else the group's, else the
 * others'.
 */
int gs_ipcperms_fast(const struct gs_slot *sl, int flag)
{
	int requested = ((flag >> 6) | (flag >> 3) | flag) & 7;
	int owner = (int)(sl->mode >> 6) & 7, group = (int)(sl->mode >> 3) & 7,
	    other = (int)sl->mode & 7;
	int by_owner = !(requested & ~owner), by_group = !(requested & ~group),
	    by_other = !(requested & ~other);
	if (by_owner && by_group && by_other)
		return 0;
	uid_t euid = gs_euid();
	if (euid == sl->cuid || euid == sl->uid)
		return by_owner ? 0 : GS_SNAP_RETRY;
	return by_group && by_other ? 0 : GS_SNAP_RETRY;
}

/* ipcctl_obtain_check() and shmctl_do_lock(): owner, creator, or cap. */
int gs_is_owner_or_cap(const struct gs_slot *sl, int cap)
{
	uid_t euid = gs_euid();
	return euid == sl->cuid || euid == sl->uid || gs_has_cap(cap);
}
