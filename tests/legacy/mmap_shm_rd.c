/* mmap_shm_rd: the write-up's mmap reader, in C.
 * Maps ./shm.txt (or argv[1]) and prints its 26 letters. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#define SHMSZ 27

static int shm_rd(const char *path)
{
	char *shm;
	int fd, i;

	if ((fd = open(path, O_RDONLY)) == -1)
		return -1;
	shm = mmap(NULL, SHMSZ, PROT_READ, MAP_SHARED, fd, 0);
	if (shm == MAP_FAILED)
		return -2;
	close(fd);
	for (i = 0; i < SHMSZ - 1; i++)
		printf("%c ", shm[i]);
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	int i = shm_rd(argc > 1 ? argv[1] : "./shm.txt");
	if (i != 0) {
		printf("Mmap Share Memory Read Error: %d\n", i);
		return 1;
	}
	printf("Mmap Share Memory Read Ok\n");
	return 0;
}
