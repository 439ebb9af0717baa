# Every route under concurrent keep-alive load (wrk, t/load/routes.lua)
# against DynamoDB Local, with NGINX as in production: a master and two
# workers.  Each route runs for a few seconds, then all of them at once
# for a few seconds more; the suite fails on any
# status other than the one the route must give (any 5xx in particular),
# on a route with no completed request, on a socket error, on a worker
# that died (`exited on signal`, or a worker pid that changed) and on any
# [alert] or [emerg] in the error log.  Then it counts what the posts
# stored, in conversations and users of its own, with the CLI: no 200
# without its message, and nothing stored by a refused post.  NGINX runs
# with MALLOC_PERTURB_ (glibc fills freed memory), so a use after free
# crashes a worker within seconds instead of once in a while.
#
# Environment: LOAD_SECONDS (per route, default 3), LOAD_CONNECTIONS (16),
# LOAD_ROUTES (only these routes, space separated: for debugging).
# Plain Test::More; nginx started here (DdbmServer runs master_process off).

use strict;
use warnings;

use Test::More;
use JSON::PP;
use POSIX ();
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use DdbmTest;
use DdbmModule;

# The valgrind pass checks memory in the functional suites, which reach
# every code path this one does with one request at a time (valgrind
# reports a use-after-free on the first request that has one).  Under
# valgrind NGINX is 20-50x slower: a load run would measure DynamoDB call
# timeouts and wrk's, not the module, and would not fit the time budget.
plan skip_all => 'load under valgrind is not meaningful '
               . '(memory is checked by the functional suites)'
    if $ENV{TEST_NGINX_USE_VALGRIND};

my $t0 = time;
my $json = JSON::PP->new->canonical;
my $secs = $ENV{LOAD_SECONDS} || 3;
my $conns = $ENV{LOAD_CONNECTIONS} || 16;
my $threads = 2;
my $lua = 't/load/routes.lua';
my $groups_n = 32;    # update-mode posts spread over this many (8 x N)

# wrk comes with `make deps` (scripts/install-deps.sh): missing is a failure
my $wrk = (grep { -x "$_/wrk" } split /:/, $ENV{PATH})[0];
BAIL_OUT('wrk is not installed (make deps installs it)') if !$wrk;
$wrk .= '/wrk';
-f $lua or BAIL_OUT("$lua is missing");

# ---- users and conversations of the suite's own -----------------------------

my $table = ddbm_fresh_table('ddbm_t300');

my %user;    # handle => { uuid, sub }
my $i = 0;
for my $h (qw(loadann loadbob loadcid loaddee loadeve)) {
    $i++;
    $user{$h} = { uuid => sprintf('30000000-0000-4000-8000-%012d', $i),
                  sub  => sprintf('30000000-5000-4000-8000-%012d', $i) };
    ddbm_cli('--table', $table, 'put-user', '--uuid', $user{$h}{uuid},
             '--handle', $h, '--display-name', "Load \u$h",
             '--sub', $user{$h}{sub});
}
# loadann and loadbob talk in every group; loadcid is in none; loaddee
# starts conversations with loadeve

# ---- NGINX: a master and two workers ------------------------------------------

my $dir = tempdir('ddbm-load-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir;    # the workers run as nobody when we are root
mkdir "$dir/logs";
my $port = ddbm_free_port();

# a private copy of the module: a rebuild that rewrites build/*.so under a
# running NGINX crashes its workers (SIGBUS), which would pass for a bug
my $so = "$dir/ngx_http_ddbm_module.so";
system('cp', $ENV{TEST_NGINX_MODULE} // die("TEST_NGINX_MODULE is not set\n"),
       $so) == 0 or BAIL_OUT("cannot copy $ENV{TEST_NGINX_MODULE}");

my $conf = <<"_EOC_" ;
load_module $so;
daemon off;
master_process on;
worker_processes 2;
pid $dir/logs/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
@{[ ddbm_http_config() ]}
    server {
        listen 127.0.0.1:$port;
@{[ ddbm_internal_location() ]}
@{[ ddbm_api_config() ]}
        # for settle(): the client connections still open
        location = /_status { stub_status; }
    }
}
_EOC_
$conf =~ s/\$(TEST_NGINX_\w+)/
    defined $ENV{$1} ? $ENV{$1} : die "300-load: \$$1 is not set\n"/ge;
open my $cfh, '>', "$dir/nginx.conf" or die "$dir/nginx.conf: $!\n";
print $cfh $conf;
close $cfh;

my $master = fork() // die "fork: $!\n";
if ($master == 0) {
    open STDOUT, '>', "$dir/logs/stdout.log";
    open STDERR, '>&', \*STDOUT;
    my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
    # glibc fills freed memory with this byte: a use after free reads
    # garbage pointers and crashes at once instead of now and then
    $ENV{MALLOC_PERTURB_} //= 165;
    { no warnings 'exec'; exec $nginx, '-p', $dir, '-c', "$dir/nginx.conf"; }
    POSIX::_exit(127);
}
END { stop_nginx() }

my @workers;
for (1 .. 100) {
    @workers = workers();
    last if @workers == 2 && IO::Socket::INET->new("127.0.0.1:$port");
    if (waitpid($master, POSIX::WNOHANG()) == $master) {
        $master = undef;
        BAIL_OUT("nginx did not start:\n" . slurp("$dir/logs/stdout.log")
                 . slurp("$dir/logs/error.log"));
    }
    sleep 0.1;
}
is(scalar @workers, 2, 'nginx runs a master and 2 workers')
    or BAIL_OUT('no workers');

# loadann starts the groups, 8 at a time (one after the other they take
# seconds on a busy machine)
my @groups;
for my $batch (0 .. $groups_n / 8 - 1) {
    my @kids;
    for my $k ($batch * 8 + 1 .. $batch * 8 + 8) {
        my $pid = open(my $fh, '-|') // die "fork: $!\n";
        if ($pid == 0) {
            my $r = eval {
                request('POST', '/api/messages', $user{loadann}{sub},
                        qq({"message":"group $k","handle":"loadbob"}))
            } || { status => 0, body => $@ };
            print "$r->{status} $r->{body}";
            POSIX::_exit(0);
        }
        push @kids, $fh;
    }
    for my $fh (@kids) {
        my $out = do { local $/; <$fh> } // '';
        close $fh;
        my ($status, $body) = split / /, $out, 2;
        my $g = $status eq '200'
              && eval { $json->decode($body)->{message_group_uuid} };
        $g ? push(@groups, $g) : diag("set-up: a conversation: $out");
    }
}
is(scalar @groups, $groups_n, "set-up: $groups_n conversations of loadann "
                              . 'and loadbob');

# ---- the routes, one after the other ------------------------------------------

my %ok;          # route => requests answered with its status
my %inflight;    # route => connections it ran on (in flight at the end)

my $members = "$user{loadann}{sub},$user{loadbob}{sub}";
my @runs = (
    [ health               => {} ],
    [ user_short           => { LOAD_HANDLE => 'loadbob' } ],
    [ no_identity          => {} ],
    [ unknown_identity     => {} ],
    [ list_conversations   => { LOAD_SUBS => $members } ],
    [ list_messages        => { LOAD_SUBS => $members } ],
    [ unknown_conversation => { LOAD_SUBS => $members } ],
    [ not_member_read      => { LOAD_SUBS => $user{loadcid}{sub} } ],
    # the refused posts first: after them the groups must be unchanged
    [ not_member_post      => { LOAD_SUBS => $user{loadcid}{sub} } ],
    [ blank_message        => { LOAD_SUBS => $members } ],
    [ post_update          => { LOAD_SUBS => $members } ],
    [ post_create          => { LOAD_SUBS => $user{loaddee}{sub},
                                LOAD_HANDLE => 'loadeve' } ],
);

my %before = (messages => count_messages(), dee => count_conversations('loaddee'));
is($before{messages}, $groups_n, 'set-up: one message in each group');

my %only = map { $_ => 1 } split ' ', $ENV{LOAD_ROUTES} // '';
$_->[1]{LOAD_GROUPS} = join(',', @groups) for @runs;
@runs = grep { !%only || $only{$_->[0]} } @runs;
for my $run (@runs) {
    load_phase('', $threads, $conns, $run);
    if ($run->[0] eq 'blank_message') {
        is(count_messages(), $before{messages},
           'the refused posts (403, 422) stored nothing');
    }
}

# then every route at once, a wrk of 2 connections each: the patterns'
# requests interleave in each worker (paced, or the routes that need no
# DynamoDB call would take nearly all the CPU)
load_phase('mixed: ', 1, 2,
           map { [ $_->[0], { %{ $_->[1] }, LOAD_DELAY_MS => 5 } ] } @runs);

# ---- what the posts stored ----------------------------------------------------

# wrk stops at its deadline without waiting for the requests in flight
# (at most one per connection): the server may still store those, so up
# to one per connection more than the 200s counted; never fewer
settle();
my $new_messages = count_messages() - $before{messages};
my $acked = $ok{post_update} // 0;
ok($new_messages >= $acked
   && $new_messages <= $acked + ($inflight{post_update} // 0),
   "update mode: every 200 stored ($acked answered 200, "
   . "$new_messages new messages)");

my $new_convs = count_conversations('loaddee') - $before{dee};
$acked = $ok{post_create} // 0;
ok($new_convs >= $acked
   && $new_convs <= $acked + ($inflight{post_create} // 0),
   "create mode: every 200 a new conversation ($acked answered 200, "
   . "$new_convs new conversations)");
is(count_conversations('loadeve'), $new_convs,
   'create mode: the receiver has every new conversation too');

# ---- the error log as a whole -------------------------------------------------

my $log = slurp("$dir/logs/error.log");
my @bad = grep { /exited on signal|\[(alert|emerg)\]/ } split /\n/, $log;
ok(!@bad, 'no worker crash, [alert] or [emerg] in the error log')
    or diag(scalar(@bad) . " lines, the first:\n"
            . join("\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]));
my @errors = grep { /\[(crit|error)\]/ } split /\n/, $log;
diag(scalar(@errors) . " [crit]/[error] lines, the first: $errors[0]")
    if @errors;
ok(kill(0, $master), 'the master is still running');

diag(sprintf 'load suite: %.0f s', time - $t0);
done_testing();

# ---- helpers --------------------------------------------------------------------

# load_phase(LABEL, THREADS, CONNECTIONS, [ROUTE, {ENV}], ...): runs
# the routes under wrk, all at once, and checks each (see the head of the
# file); adds each route's count of expected answers to %ok, and the
# connections it had to %inflight
sub load_phase {
    my ($label, $t, $c, @routes) = @_;

    my $log_at = -s "$dir/logs/error.log" || 0;
    my @before = workers();

    my @kids;
    for my $run (@routes) {
        my ($route, $env) = @$run;
        my $pid = open(my $fh, '-|') // die "fork: $!\n";
        if ($pid == 0) {
            %ENV = (%ENV, %$env, LOAD_ROUTE => $route, LOAD_THREADS => $t,
                    LOAD_TAG => "load-$label$route");
            open STDERR, '>&', \*STDOUT;
            open STDIN, '<', '/dev/null';
            # a bounded run: wrk's own deadline, and timeout(1) in case it
            # hangs; 10s per request so a slow DynamoDB Local is no error
            my @cmd = ('timeout', '-k', '5', $secs + 30, $wrk, "-t$t",
                       "-c$c", "-d${secs}s", '--timeout', '10s', '-s', $lua,
                       "http://127.0.0.1:$port");
            { no warnings 'exec'; exec { $cmd[0] } @cmd; }
            POSIX::_exit(127);
        }
        push @kids, [ $route, $fh ];
    }

    for my $k (@kids) {
        my ($route, $fh) = @$k;
        my $out = do { local $/; <$fh> } // '';
        close $fh;
        my $rc = $?;

        my ($line) = $out =~ /^(ddbm-load .*)$/m;
        my %r = $line ? ($line =~ /(\w+)=(\S+)/g) : ();
        my $name = "$label$route (expects " . ($r{expected} // '?') . ')';
        ok($line, "$label$route: wrk ran and reported")
            or diag("wrk exited with $rc:\n$out");
        $ok{$route} += $r{ok} // 0;
        $inflight{$route} += $c;

        cmp_ok($r{ok} // 0, '>', 0, "$name: requests completed");
        is($r{unexpected} // -1, 0, "$name: no other status")
            or diag("$line\nfirst unexpected: "
                    . ($r{first_unexpected} // '?'));
        is(($r{connect} // 0) + ($r{read} // 0) + ($r{write} // 0)
           + ($r{timeout} // 0), 0, "$name: no socket error or timeout")
            or diag($line);
        note($line) if $line;
    }

    my $new_log = substr(slurp("$dir/logs/error.log"), $log_at);
    my @crashes = grep { /exited on signal/ } split /\n/, $new_log;
    my @after = workers();
    my $what = @routes == 1 ? $routes[0][0] : 'all routes at once';
    ok(!@crashes && "@before" eq "@after",
       "$label$what: no worker crashed")
        or diag(scalar(@crashes) . " x 'exited on signal'; workers before: "
                . "@before, after: @after\n"
                . join("\n", @crashes[0 .. ($#crashes < 2 ? $#crashes : 2)]));
}

# the workers' pids, sorted
sub workers {
    return () if !$master;
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $s = slurp($stat) or next;
        # pid (comm) state ppid ...: comm may hold spaces, take what follows
        my ($pid, $rest) = $s =~ /^(\d+) \(.*\) (.*)$/s or next;
        my (undef, $ppid) = split / /, $rest;
        push @kids, $pid if $ppid == $master;
    }
    return sort { $a <=> $b } @kids;
}

# messages stored in the suite's groups (the CLI, not the module, reads)
sub count_messages {
    my $n = 0;
    $n += $_ for count_items(map { [ 'get-conversation', $_ ] } @groups);
    return $n;
}

sub count_conversations {
    my ($handle) = @_;
    return (count_items([ 'list-conversations', $handle ]))[0];
}

# count_items([CMD, KEY], ...): the rows of each, the CLI calls run at once
# (a few dozen: one after the other they would cost seconds)
sub count_items {
    my @calls = @_;
    my @kids;
    for my $c (@calls) {
        my @args = ('--table', $table, @$c, '--limit', 100000, '--json');
        my $pid = open(my $fh, '-|') // die "fork: $!\n";
        if ($pid == 0) {
            print eval { ddbm_cli(@args) } // "ERROR $@";
            POSIX::_exit(0);
        }
        push @kids, [ $fh, "@$c" ];
    }
    my @n;
    for my $k (@kids) {
        my ($fh, $what) = @$k;
        my $out = do { local $/; <$fh> } // '';
        close $fh;
        my $doc = eval { $json->decode($out) }
            or die "300-load: $what: $out\n";
        # --json prints DynamoDB's first page as is: the rows must fit in it
        die "300-load: $what: more than one page\n"
            if $doc->{LastEvaluatedKey};
        push @n, scalar @{ $doc->{Items} };
    }
    return @n;
}

# waits (bounded) until the requests wrk left in flight are finished: no
# client connection open but the one asking
sub settle {
    for (1 .. 100) {
        my $r = request('GET', '/_status', '');
        return if $r->{body} =~ /^Active connections: 1\s/;
        sleep 0.1;
    }
    diag('requests still in flight after 10 s');
}

# one request on its own connection (the set-up's)
sub request {
    my ($method, $path, $sub, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 30)
        or die "connect: $!\n";
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\nX-Test-Sub: $sub\r\n";
    $req .= 'Content-Length: ' . length($body) . "\r\n" if defined $body;
    print $s $req, "\r\n", $body // '';
    my $raw = do { local $/; <$s> } // '';
    close $s;
    my ($head, $content) = split /\r\n\r\n/, $raw, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d{3})};
    return { status => $status // 0, body => $content // '' };
}

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    return <$fh> // '';
}

sub stop_nginx {
    my $pid = $master or return;
    $master = undef;
    kill 'QUIT', $pid;
    for (1 .. 100) {
        return if waitpid($pid, POSIX::WNOHANG()) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}
