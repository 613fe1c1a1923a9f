/*
 * conf_scenarios - the differential conformance runner.
 *
 *   conf_scenarios --list       one line per scenario: "<name> <root|any>"
 *   conf_scenarios NAME         run one scenario, one line per step
 *
 * tests/conformance runs every scenario natively in a fresh IPC namespace
 * and under goshm with a fresh store, as root and as uid 1000, and
 * compares the two outputs line by line (docs/CONFORMANCE.md).  Scenarios
 * marked "root" switch users themselves (a child calls setresuid), so they
 * run only when the runner is root.
 */
#define _GNU_SOURCE
#include <limits.h>

#include "conf/out.h"
#include "conf/calls.h"
#include "conf/proc.h"
#include "conf/mem.h"
#include "conf/sc_get.h"
#include "conf/sc_at.h"
#include "conf/sc_dt.h"
#include "conf/sc_ctl.h"
#include "conf/sc_nat.h"
#include "conf/sc_remap.h"
#include "conf/sc_twin.h"
#include "conf/sc_dontfork.h"

struct scenario {
	const char *name;
	void (*run)(void);
	int root; /* switches users or writes sysctls: needs a root runner */
};

#define SC(n) {#n, sc_##n, 0}
#define SC_ROOT(n) {#n, sc_##n, 1}

static const struct scenario scenarios[] = {
	SC(get_key),
	SC(get_private),
	SC(get_enoent),
	SC(get_sizes),
	SC(get_huge),
	SC(get_mode),
	SC(get_requested_perms),
	SC_ROOT(get_error_order),
	SC_ROOT(get_perm_classes),
	SC_ROOT(get_creator_class),
	SC_ROOT(get_groups),
	SC_ROOT(get_root_caps),
	SC(get_id_sequence),
	SC(get_many),
	SC(get_flags),
	SC(get_hugetlb_pool),
	SC(get_table_full),
	SC(seg_pages),
	SC(seg_zero),
	SC(at_null),
	SC(at_addr),
	SC(at_addr_top),
	SC(at_rnd_zero),
	SC(at_overlap),
	SC(at_remap_whole),
	SC(at_remap_part),
	SC(at_remap_rdonly),
	SC(at_remap_first_a),
	SC(at_remap_middle_a),
	SC(at_remap_last_a),
	SC(at_remap_first_b),
	SC(at_remap_middle_b),
	SC(at_remap_last_b),
	SC(at_remap_middle_rmid),
	SC(at_remap_middle_child),
	SC(at_rdonly),
	SC(at_exec),
	SC(at_badid),
	SC(at_perms),
	SC_ROOT(at_perms_other),
	SC(at_count),
	SC(at_twin_mprotect),
	SC(at_twin_syscall_mprotect),
	SC(at_twin_modes),
	SC(at_twin_dontfork),
	SC(at_twin_mlock),
	SC(at_twin_child),
	SC(at_twin_calls),
	SC(at_dontfork),
	SC(at_dontfork_syscall),
	SC(at_dontfork_part),
	SC(at_dontfork_enomem),
	SC(dt_einval),
	SC(dt_munmap_first),
	SC(dt_munmap_middle),
	SC(dt_munmap_last),
	SC(dt_munmap_whole),
	SC(dt_mprotect_middle),
	SC(dt_hole_refilled),
	SC(dt_hole_other_segment),
	SC(dt_adjacent),
	SC(dt_in_child),
	SC(dt_mremap),
	SC(dt_whole_refilled),
	SC(dt_syscall_refilled),
	SC(dt_mapped_over),
	SC(dt_mremap_refilled),
	SC(dt_munmap_rmid),
	SC(dt_syscall_munmap_rmid),
	SC(dt_mapped_over_rmid),
	SC(dt_munmap_in_child),
	SC(ctl_stat_life),
	SC(ctl_set_ctime),
	SC(ctl_set_fields),
	SC(ctl_set_efault),
	SC_ROOT(ctl_set_perm),
	SC(ctl_rmid),
	SC(ctl_rmid_attached),
	SC_ROOT(ctl_rmid_perm),
	SC(ctl_info),
	SC(ctl_shm_stat),
	SC_ROOT(ctl_shm_stat_perm),
	SC(ctl_lock),
	SC(ctl_lock_rlimit),
	SC(ctl_lock_sum),
	SC_ROOT(ctl_lock_perm),
	SC_ROOT(ctl_creds),
	SC_ROOT(ctl_creds_userns),
	SC(ctl_badcmd),
	SC(nat_fork20),
	SC(nat_fork_many),
	SC(nat_exec),
	SC(nat_exec_image),
	SC(get_id_cycle_shrink),
	SC(get_fd_limit),
	SC_ROOT(get_next_id),
	SC(nat_exit),
	SC(nat_kill),
	SC(nat_rmid_child_last),
	SC(nat_rmid_child_killed),
	SC(nat_times),
	SC(nat_exit_last),
	SC(nat_shared),
	SC_ROOT(nat_setuid_after_attach),
};

#define NSCENARIOS (sizeof scenarios / sizeof scenarios[0])

/*
 * "--exec SCENARIO WHAT ID RELEASE_FD DONE_FD N": a program exec'd by a
 * scenario's child (child_exec).  Its raw ids are printed as numbers: the
 * id names of the scenario are not shared across exec.
 *   stat    IPC_STAT of ID: what the exec'd image sees of its old attaches
 *   attach  attach ID and keep it until RELEASE_FD closes; exit without
 *           shmdt
 */
static int exec_main(char **argv)
{
	struct gate done = {{-1, atoi(argv[6])}};
	struct shmid_ds d;
	conf_init(argv[2]);
	snprintf(me, sizeof me, "exec#%s", argv[7]);
	int id = atoi(argv[4]);
	if (!strcmp(argv[3], "attach")) {
		void *p = shmat(id, NULL, 0);
		out("shmat = %s", p == (void *)-1 ? fail(errno) : "ok");
	}
	int r = shmctl(id, IPC_STAT, &d);
	if (r < 0)
		out("nattch = %s", fail(errno));
	else
		out("nattch = %lu, lpid = %s", (unsigned long)d.shm_nattch, pid_name(d.shm_lpid));
	gate_post(&done);
	return hold_main(argv[5]);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--hold"))
		return hold_main(argv[2]);
	if (argc == 8 && !strcmp(argv[1], "--exec"))
		return exec_main(argv);
	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (size_t i = 0; i < NSCENARIOS; i++)
			printf("%s %s\n", scenarios[i].name, scenarios[i].root ? "root" : "any");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: conf_scenarios --list | NAME\n");
		return 64;
	}
	for (size_t i = 0; i < NSCENARIOS; i++) {
		if (strcmp(argv[1], scenarios[i].name))
			continue;
		if (scenarios[i].root && geteuid() != 0) {
			fprintf(stderr, "%s switches users: run it as root\n", argv[1]);
			return 65;
		}
		conf_init(scenarios[i].name);
		out("start uid=%u gid=%u", (unsigned)geteuid(), (unsigned)getegid());
		scenarios[i].run();
		out("end");
		return 0;
	}
	fprintf(stderr, "conf_scenarios: no scenario %s\n", argv[1]);
	return 64;
}
