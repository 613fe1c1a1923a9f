/* deepbind_plugin.c - the ten-line plugin that a RTLD_DEEPBIND load hides
 * from LD_PRELOAD (issue 16): it makes or opens a segment by key and
 * writes or reads it.  plugin_whoami is defined here and in the host:
 * with RTLD_DEEPBIND the plugin's own must win (the isolation kept). */
#include <stdio.h>
#include <string.h>
#include <sys/shm.h>

void *dep_attach(int id);

const char *plugin_whoami(void) { return "plugin"; }
const char *plugin_scope(void) { return plugin_whoami(); } /* through the PLT */

int plugin_run(int key, const char *text, char *out, size_t len)
{
	int id = shmget(key, 4096, text ? IPC_CREAT | 0600 : 0);
	char *p = id < 0 ? (char *)-1 : dep_attach(id);
	if (p == (char *)-1)
		return -1;
	if (text)
		snprintf(p, 4096, "%s", text);
	snprintf(out, len, "%s", p);
	return shmdt(p) == 0 ? id : -1;
}
