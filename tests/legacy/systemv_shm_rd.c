/* systemv_shm_rd: the write-up's System V reader, in C.
 * Finds key 5678 without IPC_CREAT and prints its 26 letters. */
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>

#define SHMSZ 27

static int shm_rd(void)
{
	char *shm;
	int shmid, i;
	key_t key = 5678;

	if ((shmid = shmget(key, SHMSZ, 0666)) < 0)
		return -1;
	if ((shm = shmat(shmid, NULL, 0)) == (char *)-1)
		return -2;
	for (i = 0; i < SHMSZ - 1; i++)
		printf("%c ", shm[i]);
	printf("\n");
	return 0;
}

int main(void)
{
	int i = shm_rd();
	if (i != 0) {
		printf("SystemV Share Memory Create and Read Error: %d\n", i);
		return 1;
	}
	printf("SystemV Share Memory Create and Read Ok\n");
	return 0;
}
