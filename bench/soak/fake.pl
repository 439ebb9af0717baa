#!/usr/bin/perl
# One scripted fake DynamoDB (t/lib/DdbmFake.pm) for bench/soak.sh, in its
# /random/<p>/<id> mode: relays to DynamoDB Local, faults now and then.
#
#   perl bench/soak/fake.pl DDB_PORT PORT_FILE [STATS_FILE]
#
# Writes the fake's port to PORT_FILE, then waits; the fake stops when this
# process does (TERM).  The fake is one single-threaded process that blocks
# while it relays, so the soak runs several and sends them a fraction only.
use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/../../t/lib";

my ($ddb_port, $port_file, $stats) = @ARGV;
die "usage: fake.pl DDB_PORT PORT_FILE [STATS_FILE]\n" if !$port_file;
$ENV{TEST_NGINX_DDB_PORT} = $ddb_port;
$ENV{DDBM_FAKE_STATS} = $stats if $stats;
$ENV{DDBM_FAKE_LOG} = "$stats.faults" if $stats;

require DdbmFake;
my $port = DdbmFake::start();
open my $fh, '>', "$port_file.tmp" or die "fake.pl: $port_file: $!\n";
print $fh "$port\n";
close $fh;
rename "$port_file.tmp", $port_file or die "fake.pl: rename: $!\n";

# exit (and so stop the fake, DdbmFake's END) on TERM/INT; a bounded wait
# otherwise: 24 hours at most
my $stop = 0;
$SIG{TERM} = $SIG{INT} = sub { $stop = 1 };
for (1 .. 86400) {
    last if $stop;
    sleep 1;
}
exit 0;
