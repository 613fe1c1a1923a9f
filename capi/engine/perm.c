/*
 * perm.c - the kernel's permission rules for System V IPC (ipc/util.c):
 * ipcperms() for access, owner-or-capability for changes.
 */
#include "engine.h"

#include <errno.h>
#include <linux/capability.h>
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
	if (syscall(SYS_capget, &hdr, data) < 0)
		return 0;
	return (data[cap / 32].effective >> (cap % 32)) & 1;
}

static int in_group(gid_t gid)
{
	gid_t groups[NGROUPS_MAX];
	if (getegid() == gid)
		return 1;
	int n = getgroups(NGROUPS_MAX, groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

/* ipcperms(): flag holds the requested mode bits (S_IRUGO etc.). */
int gs_ipcperms(const struct gs_slot *sl, int flag)
{
	uid_t euid = geteuid();
	int requested = (flag >> 6) | (flag >> 3) | flag;
	int granted = (int)sl->mode;
	if (euid == sl->cuid || euid == sl->uid)
		granted >>= 6;
	else if (in_group(sl->cgid) || in_group(sl->gid))
		granted >>= 3;
	if ((requested & ~granted & 0007) && !gs_has_cap(CAP_IPC_OWNER))
		return -EACCES;
	return 0;
}

/* ipcctl_obtain_check() and shmctl_do_lock(): owner, creator, or cap. */
int gs_is_owner_or_cap(const struct gs_slot *sl, int cap)
{
	uid_t euid = geteuid();
	return euid == sl->cuid || euid == sl->uid || gs_has_cap(cap);
}
