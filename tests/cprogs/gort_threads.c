/* gort_threads: how many threads an idle program has, and that its own
 * threads come and go as they would natively.
 *
 * Prints
 *
 *   idle: T                   threads once their number is stable
 *   with three of its own: T+3
 *   after joining them: T
 *   work: 3000                what the three threads computed
 *
 * Natively T is 1; with libgoshm.so preloaded it is 1 plus the threads of
 * the library's Go runtime. */
#include "gort.h"

#include <pthread.h>

static pthread_barrier_t started, counted;

static void *work(void *arg)
{
	long n = (long)arg, sum = 0;
	for (long i = 1; i <= n; i++)
		sum += 10;
	pthread_barrier_wait(&started);
	pthread_barrier_wait(&counted);
	return (void *)sum;
}

int main(void)
{
	int idle = gort_settled_tasks();
	printf("idle: %d\n", idle);
	if (pthread_barrier_init(&started, NULL, 4) != 0 || pthread_barrier_init(&counted, NULL, 4) != 0)
		gort_fail("pthread_barrier_init");
	pthread_t t[3];
	for (long i = 0; i < 3; i++)
		if (pthread_create(&t[i], NULL, work, (void *)(50 * (i + 1))) != 0)
			gort_fail("pthread_create");
	pthread_barrier_wait(&started);
	printf("with three of its own: %d\n", gort_tasks());
	pthread_barrier_wait(&counted);
	long total = 0;
	for (int i = 0; i < 3; i++) {
		void *sum;
		pthread_join(t[i], &sum);
		total += (long)sum;
	}
	/* A joined thread is gone from /proc a moment after pthread_join. */
	printf("after joining them: %d\n", gort_settled_tasks());
	printf("work: %ld\n", total);
	return 0;
}
