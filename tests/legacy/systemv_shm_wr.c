/* systemv_shm_wr: the write-up's System V writer, in C.
 * Creates key 5678 (27 bytes) and writes 'a'..'z' into it. */
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>

#define SHMSZ 27

static int shm_wr(void)
{
	char c, *shm, *s;
	int shmid;
	key_t key = 5678;

	if ((shmid = shmget(key, SHMSZ, IPC_CREAT | 0666)) < 0)
		return -1;
	if ((shm = shmat(shmid, NULL, 0)) == (char *)-1)
		return -2;
	s = shm;
	for (c = 'a'; c <= 'z'; c++)
		*s++ = c;
	return 0;
}

int main(void)
{
	int i = shm_wr();
	if (i != 0) {
		printf("SystemV Share Memory Create and Write Error: %d\n", i);
		return 1;
	}
	printf("SystemV Share Memory Create and Write Ok\n");
	return 0;
}
