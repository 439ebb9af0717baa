# Invariant 6: a write to one conversation never replaces, moves or deletes
# a row of another, however many conversations two people share and
# whatever the clock says.  Each case failed on the write path before rows
# were put and deleted with conditions on their conversation:
#
#  - a clock in whole seconds (t/lib/ddbm_clock.c, LD_PRELOAD in nginx
#    only): many conversations between the same two people, started and
#    posted to at once, all plan the same microsecond; afterwards each
#    member has exactly one row per conversation, at its latest message,
#    and every acknowledged message is stored once;
#  - rows found through the index and cached, then moved by another writer
#    (the reference's tools, or its stream Lambda) before the next post:
#    the post finds where they are instead of leaving two per member;
#  - a table dropped and seeded again under a running nginx: its cached
#    record (rev 1) no longer passes for the new one (rev 1 again), since
#    the condition names the record's last time too.
# Plain Test::More against nginx instances of its own (t/lib/DdbmServer.pm).

use strict;
use warnings;

use Test::More;
use JSON::PP;
use File::Temp qw(tempdir);
use POSIX ();
use DdbmTest;
use DdbmModule;
use DdbmServer;

my $json = JSON::PP->new->canonical;
my %SUB = %DdbmModule::SUB;
my %UUID = %DdbmModule::UUID;
my $G = $DdbmModule::GROUP;
my $TABLE = 'ddbm_t125';

ddbm_fresh_table($TABLE);
seed_table();

# the clock shim, built here with the machine's compiler
my $tmp = tempdir('ddbm-t125-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $shim = "$tmp/ddbm_clock.so";
my $cc_out = `cc -shared -fPIC -O2 -o $shim t/lib/ddbm_clock.c -ldl 2>&1`;
is($?, 0, 'the clock shim builds') or diag($cc_out);

sub api_config {
    my ($extra) = @_;
    return ($extra // '') . ddbm_api_config();
}

sub call {
    my ($srv, $who, $method, $path, $body, %h) = @_;
    my $res = $srv->request($method, $path,
                            { 'X-Test-Sub' => $SUB{$who}, %h },
                            defined $body ? $json->encode($body) : undef);
    $res->{json} = eval { $json->decode($res->{body}) };
    return $res;
}

# runs each job (a code ref returning a line) in a child of its own, all at
# once; returns their lines in job order
sub at_once {
    my @jobs = @_;
    my @out;
    my @kids;
    for my $i (0 .. $#jobs) {
        my $file = "$tmp/job.$$.$i";
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            my $line = eval { $jobs[$i]->() } // "error $@";
            open my $fh, '>', $file or POSIX::_exit(1);
            print $fh $line;
            close $fh;
            POSIX::_exit(0);
        }
        push @kids, [$pid, $file];
    }
    for (@kids) {
        waitpid($_->[0], 0);
        push @out, DdbmTest::slurp($_->[1]);
        unlink $_->[1];
    }
    return @out;
}

# What the table holds, by conversation: its messages (text => [sk]) and
# each member's rows ([sk, message]); and every row key with its owners.
sub table_state {
    my %conv;
    for my $it (ddbm_scan($TABLE)) {
        if ($it->{pk} =~ /^MSG#(.+)$/) {
            push @{ $conv{$1}{messages}{ $it->{message} } }, $it->{sk};
        } elsif ($it->{pk} =~ /^GRP#(.+)$/ && $it->{message_group_uuid}) {
            push @{ $conv{ $it->{message_group_uuid} }{rows}{$1} },
                 [ $it->{sk}, $it->{message} ];
        }
    }
    return \%conv;
}

# invariants 1, 2 and 6 for these conversations and acknowledged texts:
# every text once; one row per member, at the latest message
sub check_conversations {
    my ($name, $convs, $acked, @members) = @_;
    my $state = table_state();
    my (@lost, @twice, @rows);
    for my $c (@$convs) {
        my $msgs = $state->{$c}{messages} || {};
        for my $text (@{ $acked->{$c} || [] }) {
            my $n = scalar @{ $msgs->{$text} || [] };
            push @lost, "$c: \"$text\"" if $n == 0;
            push @twice, "$c: \"$text\" x$n" if $n > 1;
        }
        my ($latest_sk, $latest_text) = ('', '');
        for my $text (keys %$msgs) {
            for my $sk (@{ $msgs->{$text} }) {
                ($latest_sk, $latest_text) = ($sk, $text)
                    if $sk gt $latest_sk;
            }
        }
        for my $member (@members) {
            my $r = $state->{$c}{rows}{ $UUID{$member} } || [];
            push @rows, "$c: $member has " . scalar(@$r) . ' rows'
                if @$r != 1;
            push @rows, "$c: ${member}'s row is at $r->[0][0], "
                      . "the latest message at $latest_sk"
                if @$r == 1 && ($r->[0][0] ne $latest_sk
                                || $r->[0][1] ne $latest_text);
        }
    }
    is(scalar @lost, 0, "$name: no acknowledged message lost")
        or diag(join "\n", @lost[0 .. ($#lost < 9 ? $#lost : 9)]);
    is(scalar @twice, 0, "$name: no message stored twice")
        or diag(join "\n", @twice[0 .. ($#twice < 9 ? $#twice : 9)]);
    is(scalar @rows, 0,
       "$name: each member has one row per conversation, at its latest "
       . 'message')
        or diag(join "\n", @rows[0 .. ($#rows < 19 ? $#rows : 19)]);
}

# ---- many conversations, one second ---------------------------------------

{
    my $srv = DdbmServer->start(workers => 2, config => api_config(),
                                env => { LD_PRELOAD => $shim,
                                         DDBM_TEST_CLOCK => 'seconds' });

    my $K = 8;
    my @started = at_once(map {
        my $i = $_;
        sub {
            my $who = $i % 2 ? 'bayko' : 'londo';
            my $res = call($srv, $who, POST => '/api/messages',
                           { message => "t125 start $i",
                             handle => $who eq 'bayko' ? 'londo' : 'bayko' });
            return "$res->{status} "
                 . ($res->{json} && $res->{json}{message_group_uuid} // '-')
                 . " t125 start $i";
        }
    } 1 .. $K);

    my (@convs, %acked);
    for (@started) {
        my ($status, $c, $text) = /^(\d+) (\S+) (.*)$/ or next;
        next if $status != 200;
        push @convs, $c;
        push @{ $acked{$c} }, $text;
    }
    is(scalar @convs, $K, "$K conversations started at once: 200 each")
        or diag(join "\n", @started);

    # the clock really is coarse: the start times share whole seconds
    my %sec;
    for my $c (@convs) {
        my $m = call($srv, 'bayko', GET => "/api/messages/$c");
        my $at = $m->{json} && $m->{json}[0]{created_at} // '';
        $sec{ substr($at, 0, 19) }++;
    }
    cmp_ok(scalar keys %sec, '<', $K,
           'the coarse clock puts several starts in one second');

    # then every conversation is posted to by both, all at once
    my $P = 3;
    my @posted = at_once(map {
        my $c = $convs[$_ % @convs];
        my $i = $_;
        sub {
            my $who = $i % 2 ? 'bayko' : 'londo';
            my $res = call($srv, $who, POST => '/api/messages',
                           { message => "t125 post $i",
                             message_group_uuid => $c });
            return "$res->{status} $c t125 post $i";
        }
    } 0 .. $P * @convs - 1);

    my $ok = 0;
    for (@posted) {
        my ($status, $c, $text) = /^(\d+) (\S+) (.*)$/ or next;
        next if $status != 200;
        $ok++;
        push @{ $acked{$c} }, $text;
    }
    is($ok, scalar @posted, "$ok of " . @posted . ' posts at once: 200')
        or diag(join "\n", grep { !/^200 / } @posted);

    check_conversations('one second, many conversations', \@convs, \%acked,
                        qw(bayko londo));

    my $log = $srv->error_log;
    like($log, qr/met a row of another at its time/,
         'the collisions happened, and were planned again');
    unlike($log, qr/\[(?:alert|emerg|crit)\]|exited on signal/,
           'no alert, crit or crash');
    $srv->stop;
}

# ---- rows moved behind a cached index read ---------------------------------

{
    my $srv = DdbmServer->start(config => api_config(
        "    ddbm_cache zone=t125:1m;\n"));

    # the seeded conversation has no record: its rows come from the index,
    # and the cache keeps where they are.  The reads are declared routes,
    # whose membership cache is their own: the post path fills it, here
    # with a post refused after the rows were read (londo is not a
    # member), so nothing is written and no record is made
    my $r = call($srv, 'londo', POST => '/api/messages',
                 { message => 't125 intruder', message_group_uuid => $G });
    is($r->{status}, 403,
       'the reference-written conversation is read through its rows');
    is(scalar(grep { ($_->{pk} // '') eq "GRPMETA#$G" } ddbm_scan($TABLE)),
       0, '... and still has no record');

    # another writer moves both rows to a later time, as the reference's
    # stream Lambda does, without a record
    my $moved = '2026-11-20T11:00:00.000000+00:00';
    for my $it (ddbm_scan($TABLE)) {
        next if $it->{pk} !~ /^GRP#/
             || ($it->{message_group_uuid} // '') ne $G;
        ddbm_ddb('TransactWriteItems', { TransactItems => [
            { Delete => { TableName => $TABLE,
                          Key => { pk => { S => $it->{pk} },
                                   sk => { S => $it->{sk} } } } },
            { Put => { TableName => $TABLE,
                       Item => { (map { $_ => { S => $it->{$_} } }
                                  grep { $_ ne 'sk' } keys %$it),
                                 sk => { S => $moved } } } } ] });
    }

    $r = call($srv, 'andrewbrown', POST => '/api/messages',
              { message => 't125 after the move', message_group_uuid => $G });
    is($r->{status}, 200, 'a post after the rows moved: 200');

    my $state = table_state();
    for my $member (qw(andrewbrown bayko)) {
        my $rows = $state->{$G}{rows}{ $UUID{$member} } || [];
        is(scalar @$rows, 1, "$member: one row for the conversation")
            or diag(explain $rows);
        is($rows->[0] && $rows->[0][1], 't125 after the move',
           "$member: the row carries the new message");
    }
    like($srv->error_log, qr/a row was not where it was known to be/,
         'the module looked for the moved rows')
        or diag(join "\n", grep { /ddbm:/ } split /\n/, $srv->error_log);
    $srv->stop;
}

# ---- a table seeded again under a running nginx ----------------------------

{
    my $seed_posts = sub {
        my ($srv, $text) = @_;
        my $r = call($srv, 'andrewbrown', POST => '/api/messages',
                     { message => $text, message_group_uuid => $G });
        is($r->{status}, 200, "posted \"$text\"");
    };

    ddbm_fresh_table($TABLE);
    seed_table();
    my $one = DdbmServer->start(config => api_config(
        "    ddbm_cache zone=t125one:1m;\n"));
    my $two = DdbmServer->start(config => api_config(
        "    ddbm_cache zone=t125two:1m;\n"));

    # the first instance writes the record (rev 1) and keeps it
    $seed_posts->($one, 't125 before the new table');

    # the table is made again; the second instance writes rev 1 anew
    ddbm_fresh_table($TABLE);
    seed_table();
    $seed_posts->($two, 't125 on the new table');

    # the first instance's cached rev 1 is not the new table's rev 1
    $seed_posts->($one, 't125 from the old cache');

    check_conversations('a table seeded again', [$G],
                        { $G => [ 't125 on the new table',
                                  't125 from the old cache' ] },
                        qw(andrewbrown bayko));
    $one->stop;
    $two->stop;
}

done_testing();
