# The Perl side of the semaphore interop test (tests/realprog/sem_test.go),
# with IPC::Semaphore (core IPC::SysV):
#   sem_interop.pl KEY post     V, then print the value
#   sem_interop.pl KEY take     P, then print the value
#   sem_interop.pl KEY stat     print nsems and mode
#   sem_interop.pl version      print IPC::Semaphore's version
use strict;
use warnings;
use IPC::SysV qw(IPC_NOWAIT SEM_UNDO);
use IPC::Semaphore;

if ($ARGV[0] eq "version") {
	print "IPC::Semaphore $IPC::Semaphore::VERSION\n";
	exit 0;
}
my ($key, $mode) = (hex($ARGV[0]), $ARGV[1]);
my $sem = IPC::Semaphore->new($key, 1, 0) or die "semget: $!\n";
if ($mode eq "post") {
	$sem->op(0, 1, 0) or die "semop: $!\n";
} elsif ($mode eq "take") {
	$sem->op(0, -1, 0) or die "semop: $!\n";
} elsif ($mode eq "stat") {
	my $ds = $sem->stat or die "IPC_STAT: $!\n";
	printf "nsems=%d mode=%o\n", $ds->nsems, $ds->mode & 0777;
	exit 0;
}
print $sem->getval(0), "\n";
