/* gort_dlopen: libgoshm.so loaded with dlopen, as an interpreter's FFI
 * (Python's ctypes, Perl's FFI) loads it, rather than preloaded.
 *
 *   gort_dlopen LIB           from a single-threaded program
 *   gort_dlopen LIB threaded  after the program has started a thread of
 *                             its own, which blocks nothing
 *
 * Prints
 *
 *   goshm_shmget, goshm_shmctl: ok
 *   main thread blocks: none
 *   program thread blocks: none        (threaded only)
 *   runtime threads: N
 *   runtime threads letting program signals through: M
 *
 * The library must work either way and never touch the program's own
 * threads.  Alone, the loading thread can tell the runtime's threads from
 * the program's and makes them block every signal a program can take
 * (M = 0); with a thread of the program's already running it cannot, and
 * leaves the runtime's masks as the runtime sets them. */
#include "gort.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/syscall.h>

static pthread_barrier_t started;
static volatile pid_t program_tid;

static void *program_thread(void *arg)
{
	(void)arg;
	sigset_t none;
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	program_tid = (pid_t)syscall(SYS_gettid);
	pthread_barrier_wait(&started);
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: gort_dlopen LIB [threaded]\n");
		return 2;
	}
	int threaded = argc > 2 && strcmp(argv[2], "threaded") == 0;
	if (threaded) {
		pthread_t t;
		if (pthread_barrier_init(&started, NULL, 2) != 0 ||
		    pthread_create(&t, NULL, program_thread, NULL) != 0)
			gort_fail("pthread_create");
		pthread_barrier_wait(&started);
	}

	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 70;
	}
	int (*get)(key_t, size_t, int) = (int (*)(key_t, size_t, int))dlsym(lib, "goshm_shmget");
	int (*ctl)(int, int, struct shmid_ds *) = (int (*)(int, int, struct shmid_ds *))dlsym(lib, "goshm_shmctl");
	if (get == NULL || ctl == NULL)
		gort_fail("dlsym");
	int id = get(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	printf("goshm_shmget, goshm_shmctl: %s\n", id >= 0 && ctl(id, IPC_RMID, NULL) == 0 ? "ok" : "failed");

	printf("main thread blocks: %s\n", gort_sigblk(0) == 0 ? "none" : "some");
	if (threaded)
		printf("program thread blocks: %s\n", gort_sigblk(program_tid) == 0 ? "none" : "some");

	gort_settled_tasks();
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		gort_fail("opendir /proc/self/task");
	int runtime = 0, letting = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		pid_t tid = atoi(e->d_name);
		if (tid == 0 || tid == getpid() || (threaded && tid == program_tid))
			continue;
		runtime++;
		unsigned long long mask = gort_sigblk(tid);
		for (int sig = 1; sig < NSIG; sig++)
			if (gort_async(sig) && !gort_in(mask, sig)) {
				letting++;
				break;
			}
	}
	closedir(d);
	printf("runtime threads: %d\nruntime threads letting program signals through: %d\n", runtime, letting);
	return 0;
}
