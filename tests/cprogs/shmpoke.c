/* shmpoke: a C process that tests drive line by line on stdin, to show
 * that it and a Go process see each other's writes at once.  It uses the
 * plain System V calls, so it runs natively or under libgoshm.
 *
 *   get KEY SIZE FLAGS  shmget (KEY, FLAGS in C notation: 0x..., 0...)
 *   at ID               shmat at an address the kernel picks
 *   w OFF TEXT          write TEXT at OFF in the last attach
 *   r OFF LEN           print LEN bytes at OFF of the last attach
 *   nattch ID           print shm_nattch from IPC_STAT
 *   stat ID             print "nattch=N lpid=PID dtime=0|set mode=0OCTAL"
 *   rm ID               shmctl IPC_RMID
 *   dt                  shmdt the last attach
 *
 * Each command answers one line: a value, "ok", or "ERR <errno>".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main(void)
{
	char line[4096], arg[4096];
	char *mem = NULL;
	long a, b, c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof line, stdin)) {
		if (sscanf(line, "get %li %li %li", &a, &b, &c) == 3) {
			int id = shmget((key_t)a, (size_t)b, (int)c);
			if (id < 0)
				printf("ERR %d\n", errno);
			else
				printf("%d\n", id);
		} else if (sscanf(line, "at %li", &a) == 1) {
			void *p = shmat((int)a, NULL, 0);
			if (p == (void *)-1) {
				printf("ERR %d\n", errno);
			} else {
				mem = p;
				printf("ok\n");
			}
		} else if (sscanf(line, "w %li %4095s", &a, arg) == 2 && mem) {
			memcpy(mem + a, arg, strlen(arg));
			printf("ok\n");
		} else if (sscanf(line, "r %li %li", &a, &b) == 2 && mem && b < 4096) {
			memcpy(arg, mem + a, (size_t)b);
			arg[b] = 0;
			printf("%s\n", arg);
		} else if (sscanf(line, "nattch %li", &a) == 1) {
			struct shmid_ds ds;
			if (shmctl((int)a, IPC_STAT, &ds) < 0)
				printf("ERR %d\n", errno);
			else
				printf("%lu\n", (unsigned long)ds.shm_nattch);
		} else if (sscanf(line, "stat %li", &a) == 1) {
			struct shmid_ds ds;
			if (shmctl((int)a, IPC_STAT, &ds) < 0)
				printf("ERR %d\n", errno);
			else
				printf("nattch=%lu lpid=%d dtime=%s mode=0%o\n",
				       (unsigned long)ds.shm_nattch, (int)ds.shm_lpid,
				       ds.shm_dtime ? "set" : "0", (unsigned)ds.shm_perm.mode);
		} else if (sscanf(line, "rm %li", &a) == 1) {
			if (shmctl((int)a, IPC_RMID, NULL) < 0)
				printf("ERR %d\n", errno);
			else
				printf("ok\n");
		} else if (strncmp(line, "dt", 2) == 0 && mem) {
			if (shmdt(mem) < 0) {
				printf("ERR %d\n", errno);
			} else {
				mem = NULL;
				printf("ok\n");
			}
		} else {
			printf("ERR bad command\n");
		}
	}
	return 0;
}
