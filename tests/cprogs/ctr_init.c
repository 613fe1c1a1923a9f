/* ctr_init: the main process of the container tests' containers.
 *
 * It only waits, so that the tests can `docker exec` programs into a
 * running container.  It reaps the orphans that are re-parented to it (a
 * container's PID 1 must, or they stay zombies), and it exits at SIGTERM
 * or SIGINT: as PID 1 it would otherwise ignore them, and every
 * `docker stop` and `docker restart` would wait out the grace period.
 *
 * Signals are taken with handlers, not sigwait(): with libgoshm preloaded
 * the process has threads of its own (a dormant Go runtime) that do not
 * block what main() blocks, and a blocked signal may be delivered to one
 * of them instead (see ctr_sigwait.c). */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static void on_child(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(void)
{
	struct sigaction term = {.sa_handler = on_term};
	struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_RESTART};

	if (sigaction(SIGTERM, &term, NULL) || sigaction(SIGINT, &term, NULL) ||
	    sigaction(SIGCHLD, &child, NULL)) {
		perror("ctr_init: sigaction");
		return 1;
	}
	for (;;)
		pause();
}
