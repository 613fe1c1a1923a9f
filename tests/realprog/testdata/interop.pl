# The Perl side of the interop test (see tests/cprogs/real_interop.c):
#   interop.pl KEY append LINE   print the segment's text, then append LINE
#   interop.pl version           print the versions of IPC::SharedMem and IPC::SysV
# It reads with shmread (attach, copy, detach in one call) and writes through
# an attach (memwrite), checking nattch 0 and then 1 on the way.
use strict;
use warnings;
use IPC::SysV;
use IPC::SharedMem;

if ($ARGV[0] eq 'version') {
    print "IPC::SharedMem $IPC::SharedMem::VERSION, IPC::SysV $IPC::SysV::VERSION\n";
    exit 0;
}
my ($key, $mode, $line) = @ARGV;
die "interop.pl: unknown mode $mode\n" unless $mode eq 'append';
my $shm = IPC::SharedMem->new(oct($key), 0, 0) or die "interop.pl: shmget: $!\n";
my $st = $shm->stat or die "interop.pl: IPC_STAT: $!\n";
die "interop.pl: size ", $st->segsz, " nattch ", $st->nattch, ", want 4096 and 0\n"
    unless $st->segsz == 4096 && $st->nattch == 0;
my $text = $shm->read(0, 4096);
defined $text or die "interop.pl: shmread: $!\n";
$text =~ s/\0.*//s;
print $text;
$shm->attach or die "interop.pl: shmat: $!\n";
$st = $shm->stat or die "interop.pl: IPC_STAT: $!\n";
die "interop.pl: nattch ", $st->nattch, " while attached, want 1\n" unless $st->nattch == 1;
$shm->write("$line\n", length($text), length($line) + 1) or die "interop.pl: memwrite: $!\n";
$shm->detach or die "interop.pl: shmdt: $!\n";
