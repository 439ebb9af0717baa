#!/usr/bin/env bash
# Prints a free TCP port on 127.0.0.1.
#
#   scripts/free-port.sh [PORT_TO_AVOID ...]
#
# The port is random in 20000-31999, below Linux's default ephemeral range
# (32768-60999), so outgoing connections cannot grab it between this check
# and the server binding it; "free" means a listening socket could be
# bound on it just now (nothing listens on it on any address).
set -euo pipefail

exec perl -MIO::Socket::INET -e '
    my %avoid = map { $_ => 1 } @ARGV;
    for (1 .. 1000) {
        my $port = 20000 + int(rand(12000));
        next if $avoid{$port};
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
                                      LocalPort => $port, Proto => "tcp",
                                      Listen => 1, ReuseAddr => 1) or next;
        close $s;
        print "$port\n";
        exit 0;
    }
    print STDERR "free-port: no free TCP port found on 127.0.0.1\n";
    exit 1;
' -- "$@"
