/*
 * twin_interleave.c - the race of a duplicated attach (capi/engine/shmat.c
 * map_twin), made to happen every time.
 *
 *   twin_interleave shmdt|munmap
 *
 * The main thread holds an attach H of segment X.  A second thread attaches
 * X: the engine duplicates H with mremap(H, 0, ...).  A seccomp filter of
 * that thread alone stops that mremap (SECCOMP_RET_USER_NOTIF) and tells the
 * main thread, which meanwhile takes H away -- by shmdt, the engine's own
 * unmapping, or by the program's munmap -- and attaches segment Y at H's
 * address.  Then the mremap goes on, and duplicates Y's pages.  The engine
 * must see that H went away meanwhile, drop that duplicate and map X's
 * file: the thread's attach reads X's mark, not Y's.
 *
 * Prints "X read X" and exits 0; 1 when the attach reads something else;
 * 2 when the set-up fails; 3 when no mremap was stopped (the attach was
 * not a duplicate: nothing was tested).  alarm() ends a hang.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

static int seg_x, seg_y;
static int listener = -1;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char *attached;
static int attacher_done;

static void die(const char *what)
{
	perror(what);
	exit(2);
}

/* mremap with an old size of 0 -- a duplicate -- waits for the
 * listener; every other call goes on. */
static int install_filter(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mremap, 0, 5),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]) + 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
	                    &prog);
}

static void *attacher(void *arg)
{
	(void)arg;
	int fd = install_filter();
	if (fd < 0)
		die("seccomp");
	pthread_mutex_lock(&mu);
	listener = fd;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	char *p = shmat(seg_x, NULL, 0);
	if (p == (char *)-1)
		die("shmat(X) in the thread");
	pthread_mutex_lock(&mu);
	attached = p;
	attacher_done = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

int main(int argc, char **argv)
{
	int by_shmdt = argc == 2 && !strcmp(argv[1], "shmdt");
	if (argc != 2 || (!by_shmdt && strcmp(argv[1], "munmap"))) {
		fprintf(stderr, "usage: twin_interleave shmdt|munmap\n");
		return 2;
	}
	alarm(20);
	seg_x = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	seg_y = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (seg_x < 0 || seg_y < 0)
		die("shmget");
	char *y = shmat(seg_y, NULL, 0); /* held, so Y's attach below is lock-free */
	char *held = shmat(seg_x, NULL, 0);
	if (y == (char *)-1 || held == (char *)-1)
		die("shmat");
	y[0] = 'Y';
	held[0] = 'X';

	pthread_t t;
	if (pthread_create(&t, NULL, attacher, NULL))
		die("pthread_create");
	pthread_mutex_lock(&mu);
	while (listener < 0)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);

	/* Wait for the duplicate's mremap, or for an attach made without one. */
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;
	int stopped = 0;
	for (;;) {
		pthread_mutex_lock(&mu);
		int done = attacher_done;
		pthread_mutex_unlock(&mu);
		if (done)
			break;
		struct pollfd pfd = {listener, POLLIN, 0};
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			die("poll");
		if (!(pfd.revents & POLLIN))
			continue;
		memset(&req, 0, sizeof req);
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
			die("SECCOMP_IOCTL_NOTIF_RECV");
		stopped = 1;
		break;
	}
	if (stopped) {
		/* H goes away, and Y comes where it was. */
		uintptr_t at = (uintptr_t)held;
		if (by_shmdt ? shmdt(held) < 0 : munmap(held, 4096) < 0)
			die(by_shmdt ? "shmdt(H)" : "munmap(H)");
		char *y2 = shmat(seg_y, (void *)at, 0);
		if (y2 != (char *)at)
			die("shmat(Y) at H's address");
		memset(&resp, 0, sizeof resp);
		resp.id = req.id;
		resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0)
			die("SECCOMP_IOCTL_NOTIF_SEND");
	}
	pthread_join(t, NULL);
	if (!stopped) {
		fprintf(stderr, "the attach made no duplicate\n");
		return 3;
	}
	printf("X read %c\n", attached[0]);
	return attached[0] == 'X' ? 0 : 1;
}
