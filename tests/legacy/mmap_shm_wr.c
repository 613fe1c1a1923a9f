/* mmap_shm_wr: the write-up's mmap writer, in C.
 * Maps ./shm.txt (or argv[1]) shared and writes 'a'..'z' into it. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define SHMSZ 27

static int shm_wr(const char *path)
{
	char c, *shm;
	int fd;

	if ((fd = open(path, O_RDWR | O_CREAT, S_IRUSR | S_IWUSR)) == -1)
		return -1;
	lseek(fd, 500, SEEK_CUR);
	if (write(fd, "\0", 1) != 1)
		return -1;
	lseek(fd, 0, SEEK_SET);
	shm = mmap(NULL, SHMSZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (shm == MAP_FAILED)
		return -2;
	close(fd);
	for (c = 'a'; c <= 'z'; c++)
		shm[c - 'a'] = c;
	return 0;
}

int main(int argc, char **argv)
{
	int i = shm_wr(argc > 1 ? argv[1] : "./shm.txt");
	if (i != 0) {
		printf("Mmap Share Memory Create and Write Error: %d\n", i);
		return 1;
	}
	printf("Mmap Share Memory Create and Write Ok\n");
	return 0;
}
