package conformance

// A knownDiff is one line on which goshm deliberately differs from the
// kernel.  Each names the scenario, the call and both results exactly, and
// the section of docs/DIFFERENCES.md that explains it.  A known difference
// that does not show any more fails the test: remove it here and in
// docs/DIFFERENCES.md.
type knownDiff struct {
	Scenario string // a scenario name, or "*" for every scenario
	Who      string // "root", "user", or "" for both
	Call     string // the call part of the line, exactly
	Field    string // "" to compare whole results, else the one field that differs
	Native   string // the kernel's result (or field value); "*" for any
	Goshm    string // goshm's result (or field value); "*" for any
	Why      string // where docs/DIFFERENCES.md explains it
}

func (k knownDiff) appliesTo(scenario string, w who) bool {
	return (k.Scenario == "*" || k.Scenario == scenario) && (k.Who == "" || k.Who == w.String())
}

const (
	whyFragments  = "DIFFERENCES.md, Attach counting: VMA fragments"
	whyRSS        = "DIFFERENCES.md, Memory behaviour: SHM_INFO shm_rss"
	whyLockSum    = "DIFFERENCES.md, Memory behaviour: SHM_LOCK checks each segment alone"
	whyIndexLimit = "DIFFERENCES.md, Ids and limits: Indexes above 4095"
	whyDescriptor = "DIFFERENCES.md, Ids and limits: Descriptors"
	whyNextID     = "DIFFERENCES.md, Ids and limits: kernel.shm_next_id is ignored"
)

var knownDiffs = []knownDiff{
	// shm_rss: pages resident (kernel) vs pages with blocks on disk (goshm).
	{Scenario: "*", Call: "SHM_INFO.shm_rss", Native: "*", Goshm: "*", Why: whyRSS},

	// The kernel counts VMAs: a cut attach counts once per piece.
	{Scenario: "at_remap_part", Call: "nattch(id#0)", Native: "2", Goshm: "1", Why: whyFragments},
	{Scenario: "dt_munmap_middle", Call: "nattch(id#0)", Native: "2", Goshm: "1", Why: whyFragments},
	{Scenario: "dt_mprotect_middle", Call: "nattch(id#0)", Native: "3", Goshm: "1", Why: whyFragments},
	// SHM_REMAP over the middle page of a three-page attach leaves two
	// pieces of it (issue 14, defect 13; sc_remap.h).
	{Scenario: "at_remap_middle_a", Call: "nattch(id#0)", Native: "2", Goshm: "1", Why: whyFragments},
	{Scenario: "at_remap_middle_b", Call: "nattch(id#0)", Native: "2", Goshm: "1", Why: whyFragments},
	{Scenario: "at_remap_middle_rmid", Call: "nattch(id#0)", Native: "2", Goshm: "1", Why: whyFragments},
	{Scenario: "at_remap_middle_rmid", Call: "shmctl(id#0, IPC_STAT, buf)", Field: "nattch",
		Native: "2", Goshm: "1", Why: whyFragments},
	{Scenario: "at_remap_middle_child", Call: "nattch(id#0)", Native: "2", Goshm: "1", Why: whyFragments},

	// RLIMIT_MEMLOCK of 100 pages, two locked segments of 60 pages each.
	{Scenario: "ctl_lock_sum", Who: "user", Call: "shmctl(id#1, SHM_LOCK, NULL)",
		Native: "-1 ENOMEM", Goshm: "0", Why: whyLockSum},

	// With more than 2730 segments the kernel's cyclic allocator hands out
	// indexes above 4095 (up to IPCMNI, 32768); the registry has 4096 slots.
	{Scenario: "get_table_full", Call: "new raw id", Native: "4096", Goshm: "32868", Why: whyIndexLimit},
	{Scenario: "get_table_full", Call: "shmctl(0, IPC_INFO, buf)", Field: "#0",
		Native: "4096", Goshm: "100", Why: whyIndexLimit},

	// One descriptor left under RLIMIT_NOFILE: the registry takes it, and
	// the data file cannot be created: ENOMEM, out of a resource.
	{Scenario: "get_fd_limit", Call: "shmget(IPC_PRIVATE, 4096, 0600)",
		Native: "id#1", Goshm: "-1 ENOMEM", Why: whyDescriptor},

	// kernel.shm_next_id = 12345 in the namespace (checkpoint/restore).
	{Scenario: "get_next_id", Call: "raw id after setting shm_next_id", Native: "12345", Goshm: "0", Why: whyNextID},
	{Scenario: "get_next_id", Call: "raw id after that", Native: "0", Goshm: "1", Why: whyNextID},
}
