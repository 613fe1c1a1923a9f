/*
 * sc_nat.h - shm_nattch and the attach/detach records across processes:
 * fork counts inherited attaches again, exec/exit/SIGKILL uncount them,
 * and shm_atime, shm_dtime, shm_lpid follow.
 */
#ifndef CONF_SC_NAT_H
#define CONF_SC_NAT_H

#include "calls.h"
#include "mem.h"
#include "proc.h"

/* Parent and 20 children: 21. */
static void sc_nat_fork20(void)
{
	struct gate release;
	pid_t kids[20];
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(id, NULL, 0);
	a[0] = 7;
	gate_open(&release);
	for (int i = 0; i < 20; i++) {
		kids[i] = child();
		if (kids[i] == 0) {
			close(release.fd[1]);
			if (a[0] != 7)
				_exit(3);
			gate_wait(&release);
			_exit(0);
		}
	}
	out("forked 20 children");
	NAT(id);
	ST(id, NULL);
	/* Ended one at a time, so that the last one is known (lpid). */
	int bad = 0;
	for (int i = 0; i < 19; i++) {
		int st;
		kill(kids[i], SIGKILL);
		waitpid(kids[i], &st, 0);
		bad += !WIFSIGNALED(st);
	}
	out("19 children killed, %d ended otherwise", bad);
	NAT(id);
	gate_close(&release);
	reap(kids[19]);
	ST(id, NULL);
	D(a);
	NAT(id);
}

/* Several attaches, inherited by fork: each counts again. */
static void sc_nat_fork_many(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(id, NULL, 0);
	A(id, NULL, SHM_RDONLY);
	A(id, NULL, 0);
	NAT(id);
	struct gate ready, go;
	gate_open(&ready);
	gate_open(&go);
	pid_t c = child();
	if (c == 0) {
		D(a);
		gate_post(&ready);
		gate_wait(&go);
		child_exit();
	}
	gate_wait(&ready);
	NAT(id);
	gate_post(&go);
	reap(c);
	NAT(id);
	ST(id, NULL);
}

/* exec drops the attaches the child inherited. */
static void sc_nat_exec(void)
{
	struct gate release;
	int id = G(IPC_PRIVATE, 4096, 0600);
	A(id, NULL, 0);
	A(id, NULL, SHM_RDONLY);
	gate_open(&release);
	pid_t c = child_exec_hold(&release);
	out("child exec'd");
	NAT(id);
	gate_close(&release);
	reap(c);
	NAT(id);
	ST(id, NULL);
}

/* exit without shmdt uncounts; shm_lpid and shm_dtime are the child's. */
static void sc_nat_exit(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(id, NULL, 0);
	pid_t c = child();
	if (c == 0) {
		A(id, NULL, 0);
		NAT(id);
		child_exit();
	}
	reap(c);
	NAT(id);
	ST(id, NULL);
	c = child();
	if (c == 0) {
		NAT(id);
		child_exit();     /* inherited attach, ended by exit */
	}
	reap(c);
	ST(id, NULL);
	D(a);
	ST(id, NULL);
}

/* SIGKILL uncounts, no code of the victim runs. */
static void sc_nat_kill(void)
{
	struct gate ready;
	int id = G(IPC_PRIVATE, 4096, 0600);
	A(id, NULL, 0);
	gate_open(&ready);
	pid_t c = child();
	if (c == 0) {
		A(id, NULL, 0);
		A(id, NULL, SHM_RDONLY);
		gate_post(&ready);
		for (;;)
			pause();
	}
	gate_wait(&ready);
	NAT(id);
	kill(c, SIGKILL);
	reap(c);
	NAT(id);
	ST(id, NULL);
}

/* The last attach of a removed segment ends in a child's exit: the
 * segment is destroyed then, and its key was free since IPC_RMID. */
static void sc_nat_rmid_child_last(void)
{
	struct gate ready, go;
	int id = G(0x9001, 4096, IPC_CREAT | 0600);
	char *a = A(id, NULL, 0);
	RM(id);
	gate_open(&ready);
	gate_open(&go);
	pid_t c = child();
	if (c == 0) {
		gate_post(&ready);
		gate_wait(&go);
		PEEK(a);
		child_exit();
	}
	gate_wait(&ready);
	NAT(id);
	D(a);
	ST(id, NULL);
	SINFO();
	gate_post(&go);
	reap(c);
	ST(id, NULL);
	SINFO();
	IINFO();
	G(0x9001, 0, 0);
}

/* The same, with SIGKILL. */
static void sc_nat_rmid_child_killed(void)
{
	struct gate ready;
	int id = G(IPC_PRIVATE, 4096, 0600);
	gate_open(&ready);
	pid_t c = child();
	if (c == 0) {
		A(id, NULL, 0);
		gate_post(&ready);
		for (;;)
			pause();
	}
	gate_wait(&ready);
	RM(id);
	ST(id, NULL);
	kill(c, SIGKILL);
	reap(c);
	ST(id, NULL);
	SSTAT(id & 0x7fff, SHM_STAT_ANY);
	SINFO();
}

/*
 * atime, dtime and lpid around fork and a child's exit.  Times are only
 * "0" or "now" in a stat line, so the changes are compared across a second
 * boundary.
 */
static void sc_nat_times(void)
{
	struct shmid_ds d0, d1, d2;
	struct gate go;
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(id, NULL, 0);
	ST(id, &d0);
	sleep_ms(1100);
	gate_open(&go);
	pid_t c = child();
	if (c == 0) {
		gate_wait(&go);
		child_exit();
	}
	ST(id, &d1);
	out("fork changed atime = %s", d1.shm_atime != d0.shm_atime ? "yes" : "no");
	sleep_ms(1100);
	gate_post(&go);
	reap(c);
	ST(id, &d2);
	out("child's exit changed dtime = %s", d2.shm_dtime != d1.shm_dtime ? "yes" : "no");
	out("child's exit changed atime = %s", d2.shm_atime != d1.shm_atime ? "yes" : "no");
	D(a);
	ST(id, NULL);
}

/*
 * The last attach ends by exit, nobody detached explicitly: the kernel
 * records the exit as a detach; goshm cannot (docs/DIFFERENCES.md,
 * "shm_dtime and shm_lpid after an exit").
 */
static void sc_nat_exit_last(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	pid_t c = child();
	if (c == 0) {
		A(id, NULL, 0);
		child_exit();
	}
	reap(c);
	ST(id, NULL);
}

/* What a child writes through an inherited attach, the parent reads. */
static void sc_nat_shared(void)
{
	int id = G(IPC_PRIVATE, 4096, 0600);
	char *a = A(id, NULL, 0);
	pid_t c = child();
	if (c == 0) {
		POKE(a + 10, 99);
		char *b = A(id, NULL, 0);
		POKE(b + 11, 98);
		D(b);
		child_exit();
	}
	reap(c);
	PEEK(a + 10);
	PEEK(a + 11);
	NAT(id);
}

/* What an exec'd image sees: its old attaches are gone; a new attach of
 * its own counts, and its exit uncounts it. */
static void sc_nat_exec_image(void)
{
	struct gate release;
	int id = G(IPC_PRIVATE, 4096, 0600);
	A(id, NULL, 0);
	gate_open(&release);
	pid_t c = child();
	if (c == 0) {
		A(id, NULL, 0);
		A(id, NULL, SHM_RDONLY);
		NAT(id);
		struct gate mine;
		gate_open(&mine);
		pid_t e = child_exec(&mine, "stat", id);
		gate_close(&mine);
		reap(e);
		child_exit();
	}
	reap(c);
	NAT(id);
	pid_t e = child_exec(&release, "attach", id);
	NAT(id);
	ST(id, NULL);
	gate_close(&release);
	reap(e);
	NAT(id);
	ST(id, NULL);
}

/* Attached as root, detached as uid 1000 (a server that drops its
 * privileges): a detach needs no permission, and the last detach of a
 * removed segment destroys it whoever makes it. */
static void sc_nat_setuid_after_attach(void)
{
	int id = G(0x9101, 4096, IPC_CREAT | 0600);
	int keep = G(0x9102, 4096, IPC_CREAT | 0600);
	char *a = A(id, NULL, 0);
	char *k = A(keep, NULL, 0);
	RM(id);
	pid_t c = child();
	if (c == 0) {
		become(1000, 1000, 0, NULL);
		POKE(a, 5);
		ST(id, NULL);
		D(a);
		ST(id, NULL);
		SSTAT(id & 0x7fff, SHM_STAT_ANY);
		D(k);
		SSTAT(keep & 0x7fff, SHM_STAT_ANY);
		A(keep, NULL, 0);
		child_exit();
	}
	reap(c);
	ST(id, NULL);
	D(a);
	ST(id, NULL);
	ST(keep, NULL);
	D(k);
	RM(keep);
}

#endif /* CONF_SC_NAT_H */
