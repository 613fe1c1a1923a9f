/*
 * lock_advice_lib.c - a library with a lock of its own, which its fork
 * prepare handler takes (to fork a consistent state, as libraries do), and
 * under which it advises memory: fresh pages of its own (an RNG's state,
 * MADV_WIPEONFORK or MADV_DONTFORK), or memory it is given (an attach).
 * A program's dependency, it registers its handlers before the preloaded
 * libgoshm.so registers its own, so its prepare handler runs after
 * goshm's has taken the engine's mutexes (tests/cprogs/fork_lock_advice.c).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void prepare(void) { pthread_mutex_lock(&lock); }
static void unlock(void) { pthread_mutex_unlock(&lock); }

__attribute__((constructor)) static void lock_advice_lib_init(void)
{
	pthread_atfork(prepare, unlock, unlock);
}

/* Under the lock: map a fresh page, fill it for delay_us, advise it. */
int lock_advice_fresh(int advice, unsigned delay_us)
{
	pthread_mutex_lock(&lock);
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int r = -1;
	if (p != MAP_FAILED) {
		usleep(delay_us);
		r = madvise(p, 4096, advice);
		munmap(p, 4096);
	}
	pthread_mutex_unlock(&lock);
	return r;
}

/* Under the lock: advise [p, p + len), wait delay_us, advise it again. */
int lock_advice_range(void *p, size_t len, int advice, int then, unsigned delay_us)
{
	pthread_mutex_lock(&lock);
	int r = madvise(p, len, advice);
	usleep(delay_us);
	r |= madvise(p, len, then);
	pthread_mutex_unlock(&lock);
	return r;
}
