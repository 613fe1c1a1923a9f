/*
 * worker.h - a second thread that runs what it is handed, one job at a
 * time, while the handing thread waits: for scenarios about what belongs
 * to one thread, such as the credentials a raw setresuid system call
 * changes.  Self-contained, so that both runners (conf_scenarios,
 * conf_sem) can use it.
 */
#ifndef CONF_WORKER_H
#define CONF_WORKER_H

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct worker {
	pthread_t thread;
	int jobs[2], done[2];
};

struct worker_job {
	void (*fn)(void *);
	void *arg;
};

static __attribute__((unused)) void *worker_main(void *p)
{
	struct worker *w = p;
	struct worker_job j;
	while (read(w->jobs[0], &j, sizeof j) == (ssize_t)sizeof j && j.fn) {
		j.fn(j.arg);
		char c = 1;
		if (write(w->done[1], &c, 1) != 1)
			abort();
	}
	return NULL;
}

static __attribute__((unused)) void worker_start(struct worker *w)
{
	if (pipe(w->jobs) || pipe(w->done) || pthread_create(&w->thread, NULL, worker_main, w))
		abort();
}

/* Run fn(arg) on the worker and wait until it has returned. */
static __attribute__((unused)) void worker_run(struct worker *w, void (*fn)(void *), void *arg)
{
	struct worker_job j = {fn, arg};
	char c;
	if (write(w->jobs[1], &j, sizeof j) != (ssize_t)sizeof j || read(w->done[0], &c, 1) != 1)
		abort();
}

static __attribute__((unused)) void worker_stop(struct worker *w)
{
	struct worker_job j = {NULL, NULL};
	if (write(w->jobs[1], &j, sizeof j) != (ssize_t)sizeof j)
		abort();
	pthread_join(w->thread, NULL);
	close(w->jobs[0]);
	close(w->jobs[1]);
	close(w->done[0]);
	close(w->done[1]);
}

#endif
