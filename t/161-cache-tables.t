# ddbm_cache across tables, and the shared table status (/health):
#
#  - two tables sharing one zone: what one table's directory says (known,
#    unknown) never answers for the other;
#  - a table deleted and created again under the running server: its old
#    entries are not served once the status has seen the new table;
#  - conversation entries last group_ttl, not forever;
#  - a flood of unknown handles does not evict a warm conversation, nor
#    any other positive entry (ddbm_status' per zone figures);
#  - expired "not found" entries are reclaimed (counted as expired, not
#    as evicted), and those of a table made again as "generation";
#  - many /health requests at once make at most one DescribeTable per
#    ddbm_health_interval; a throttled DescribeTable leaves the retry
#    quota alone; /health turns 503 when the table is gone, 200 after.
# Plain Test::More: servers that live over many requests and table drops.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep);
use DdbmTest;
use DdbmModule;
use DdbmFake;
use DdbmServer;

my $json = JSON::PP->new->canonical;
my %SUB = %DdbmModule::SUB;
my %UUID = %DdbmModule::UUID;
my $G = $DdbmModule::GROUP;

my $A = 'ddbm_t161a';
my $B = 'ddbm_t161b';
ddbm_fresh_table($B);
ddbm_fresh_table($A);     # the default table of the configs: seeded
seed_table();

my $stranger = '3f0f6b4e-0b0c-4d5e-9f1a-2b3c4d5e6f71';
ddbm_cli('--table', $B, 'put-user', '--uuid',
         '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e', '--handle', 'stranger',
         '--display-name', 'Only In B', '--sub', $stranger);

sub call {
    my ($server, $sub, $method, $path, $body) = @_;
    my $res = $server->request($method, $path,
                               { $sub ? ('X-Test-Sub' => $sub) : () },
                               defined $body ? $json->encode($body)
                                             : undef);
    $res->{json} = eval { $json->decode($res->{body}) };
    $res->{calls} = $res->{headers}{'x-calls'} // '?';
    $res->{cache} = $res->{headers}{'x-cache'} // '?';
    return $res;
}

my $costs = "        add_header X-Calls \$ddbm_calls always;\n"
          . "        add_header X-Cache \$ddbm_cache always;\n";

sub api_config {
    my ($cache) = @_;
    my $api = ddbm_api_config();
    $api =~ s/((?:ddbm_pattern|include \$TEST_NGINX_DDBM_ROUTES\/)[^;]+;)/$1\n$costs/g;
    return "    ddbm_cache $cache;\n$api"
         . "    location = /status { ddbm_status; }\n";
}

sub status_json {
    my ($server) = @_;
    my $r = $server->request(GET => '/status?format=json');
    return eval { $json->decode($r->{body}) } || {};
}

# a ddbm_cache zone's figures from ddbm_status: {positive}{entries},
# {negative}{freed}{expired} ...
sub zone {
    my ($server, $name) = @_;
    return status_json($server)->{cache_zones}{$name} || {};
}

sub freed {
    my ($z, $list) = @_;
    my $f = $z->{$list}{freed} || {};
    my $sum = 0;
    $sum += $_ for values %$f;
    return $sum;
}

sub describes {
    my ($server, $table) = @_;
    my ($d) = grep { $_->{operation} eq 'DescribeTable'
                     && $_->{table} eq $table }
              @{ status_json($server)->{dynamodb} || [] };
    return $d ? $d->{attempts} : 0;
}

# ---- two tables, one zone -----------------------------------------------

my $two = DdbmServer->start(workers => 2, config => <<"_EOC_");
    ddbm_cache zone=t161:1m;
    location = /a/message_groups {
        ddbm_table $A;
        include \$TEST_NGINX_DDBM_ROUTES/list_conversations.conf;
$costs    }
    location = /b/message_groups {
        ddbm_table $B;
        include \$TEST_NGINX_DDBM_ROUTES/list_conversations.conf;
$costs    }
_EOC_

my $r = call($two, $stranger, GET => '/a/message_groups');
is($r->{status}, 401, 'table A: a caller only B knows is 401');
$r = call($two, $stranger, GET => '/a/message_groups');
is("$r->{status} $r->{cache}", '401 HIT', '... known absent from A');
$r = call($two, $stranger, GET => '/b/message_groups');
is($r->{status}, 200, "table B: the same caller, A's \"unknown\" not used");

$r = call($two, $SUB{andrewbrown}, GET => '/a/message_groups');
is($r->{status}, 200, 'table A: andrewbrown is let in');
$r = call($two, $SUB{andrewbrown}, GET => '/a/message_groups');
is($r->{cache}, 'HIT', '... and kept');
$r = call($two, $SUB{andrewbrown}, GET => '/b/message_groups');
is($r->{status}, 401, "table B: andrewbrown is not in it: A's entry not used");

# ---- conversation entries last group_ttl ------------------------------

my $srv = DdbmServer->start(
    config => api_config('zone=t161g:1m group_ttl=2s'),
    http_config => "    ddbm_health_interval 1s;\n");

call($srv, $SUB{bayko}, GET => "/api/messages/$G") for 1 .. 2;
$r = call($srv, $SUB{bayko}, GET => "/api/messages/$G");
is("$r->{calls} $r->{cache}", '1 HIT', 'a warm conversation: one call');
sleep 2.5;
$r = call($srv, $SUB{bayko}, GET => "/api/messages/$G");
isnt($r->{cache}, 'HIT', 'after group_ttl its members are read again');

# ---- a table deleted and created again ----------------------------------

$r = call($srv, undef, GET => '/api/users/@bayko/short');
$r = call($srv, undef, GET => '/api/users/@bayko/short');
is($r->{cache}, 'HIT', 'bayko is kept (user_ttl 60 s)');
is($r->{json} && $r->{json}{display_name}, 'Andrew Bayko', '... his name');
sleep 1.2;
call($srv, undef, GET => '/api/users/@londo/short');   # the status, seen
sleep 0.3;

ddbm_fresh_table($A);
ddbm_cli('--table', $A, 'put-user', '--uuid', $UUID{bayko},
         '--handle', 'bayko', '--display-name', 'Bayko Of The New Table',
         '--sub', $SUB{bayko});
sleep 1.2;
# the first request past the interval refreshes the status, not waited for
call($srv, undef, GET => '/api/users/@londo/short');
sleep 0.5;
$r = call($srv, undef, GET => '/api/users/@bayko/short');
is($r->{json} && $r->{json}{display_name}, 'Bayko Of The New Table',
   'the re-created table: its own directory, not the old entry');
is($r->{cache}, 'MISS', '... read from DynamoDB');
like($srv->error_log, qr/table "$A" was created again/,
     'the re-creation is logged');
cmp_ok(zone($srv, 't161g')->{positive}{freed}{generation} // 0, '>=', 1,
       "... the old entry freed as of another generation");
seed_table();

# ---- expired entries are reclaimed ---------------------------------------

# Every negative entry made is either live or freed, with its cause: the
# sum holds whatever second the requests fall in.  Without the reclaim
# the expired ones would stay in the zone until evicted or replaced.
my $rc = DdbmServer->start(workers => 2,
    config => api_config('zone=t161r:1m negative_ttl=1s'));
call($rc, undef, GET => '/api/users/@bayko/short');
my $z0 = zone($rc, 't161r');
is($z0->{positive}{entries}, 1, 'reclaim: one positive entry (bayko)');
is($z0->{negative}{entries}, 0, '... no negative one');
cmp_ok($z0->{positive}{bytes}, '>', 0, '... its bytes counted');

my @unknown = map { sprintf 'gone%d%06d', $_, int rand 1e6 } 1 .. 20;
my $bad = 0;
for my $h (@unknown) {
    $bad++ if call($rc, undef, GET => "/api/users/\@$h/short")->{status}
              != 404;
}
is($bad, 0, '20 unknown handles: 404 each');
my $z1 = zone($rc, 't161r');
cmp_ok($z1->{negative}{entries}, '>', 0,
       'the negative entries gauge went up')
    or diag(explain($z1));
cmp_ok($z1->{negative}{bytes}, '>', 0, '... and their bytes');
is($z1->{negative}{entries} + freed($z1, 'negative'), 20,
   '... every one made is live or freed');

sleep 2.1;
# five of the old handles again (each found expired), five new ones
my @again = (@unknown[0 .. 4],
             map { sprintf 'new%d%06d', $_, int rand 1e6 } 1 .. 5);
$bad = 0;
for my $h (@again) {
    $bad++ if call($rc, undef, GET => "/api/users/\@$h/short")->{status}
              != 404;
}
is($bad, 0, '2 s later, ten more unknown handles: 404 each');
my $z2 = zone($rc, 't161r');
# the ten new ones may expire too, if the requests span a second
cmp_ok($z2->{negative}{freed}{expired}, '>=', 20,
       'the 20 expired negative entries reclaimed as expired')
    or diag(explain($z2));
is($z2->{negative}{freed}{evicted}, 0, '... none counted as evicted');
cmp_ok($z2->{negative}{entries}, '<=', 10,
       '... the negative gauge went down to the live ones');
is($z2->{negative}{entries} + freed($z2, 'negative'), 30,
   '... every one made is live or freed');
is($z2->{positive}{entries}, 1, "... bayko's entry untouched");
is(freed($z2, 'positive'), 0, '... nothing positive freed');

$r = $rc->request(GET => '/status');
like($r->{body},
     qr/^ddbm_cache_freed_total\{list="negative",reason="expired",
        zone="t161r"\}\ $z2->{negative}{freed}{expired}$/mx,
     'the Prometheus text says the same');
like($r->{body}, qr/^ddbm_cache_entries\{list="positive",zone="t161r"\} 1$/m,
     '... and its positive gauge');

# ---- unknown handles never evict what exists --------------------------

my $tiny = DdbmServer->start(config => api_config('zone=t161tiny:32k'));
call($tiny, $SUB{bayko}, GET => "/api/messages/$G") for 1 .. 3;
$r = call($tiny, $SUB{bayko}, GET => "/api/messages/$G");
is("$r->{calls} $r->{cache}", '1 HIT', 'tiny zone: a warm conversation');
call($tiny, undef, GET => '/api/users/@bayko/short');
my $t0 = zone($tiny, 't161tiny');
cmp_ok($t0->{positive}{entries}, '>=', 3,
       '... the caller, the conversation and bayko kept')
    or diag(explain($t0));
$bad = 0;
for my $i (1 .. 400) {
    my $h = sprintf 'rnd%d%06d', $i, int rand 1e6;
    $bad++ if call($tiny, undef, GET => "/api/users/\@$h/short")->{status}
              != 404;
}
is($bad, 0, '400 random handles: 404 each');
my $t1 = zone($tiny, 't161tiny');
cmp_ok($t1->{negative}{freed}{evicted}, '>', 0,
       'the negative list was full: negative entries evicted')
    or diag(explain($t1));
cmp_ok($t1->{positive}{entries}, '>=', $t0->{positive}{entries},
       '... the positive gauge never went down');
is($t1->{positive}{freed}{evicted}, 0, '... no positive entry evicted');
cmp_ok($t1->{negative}{bytes}, '<=', 32 * 1024 / 4,
       '... the negative entries within a quarter of the zone');
$r = call($tiny, $SUB{bayko}, GET => "/api/messages/$G");
is("$r->{calls} $r->{cache}", '1 HIT',
   'the conversation is still warm: one call');

# ---- /health from the shared status -------------------------------------

sub parallel {
    my ($server, $n, $path) = @_;
    my @kids;
    for (1 .. $n) {
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            my $res = $server->request(GET => $path);
            POSIX::_exit($res->{status} == 200 ? 0 : 1);
        }
        push @kids, $pid;
    }
    my $ok = 0;
    for (@kids) { waitpid($_, 0); $ok++ if $? == 0 }
    return $ok;
}

my $h = DdbmServer->start(workers => 2, config => api_config('off'),
                          http_config => "    ddbm_health_interval 30s;\n");
$r = call($h, undef, GET => '/health');
is($r->{status}, 200, '/health: 200');
is(parallel($h, 40, '/health'), 40, '40 parallel /health: 200 each');
is(describes($h, $A), 1, '... one DescribeTable for all 41');

DdbmFake::start();
my $fake = DdbmFake::location('64k');
$fake =~ s/\$TEST_NGINX_SCRIPT_PORT/$ENV{TEST_NGINX_SCRIPT_PORT}/g;
my $q = DdbmServer->start(workers => 2,
                          http_config => "    ddbm_retry_quota 50;\n"
                                       . "    ddbm_health_interval 1s;\n",
                          config => <<"_EOC_");
$fake
    location = /health {
        ddbm_pattern health;
        ddbm_backend /_fake/DescribeTable/throttle/q1;
        ddbm_retries 3 1ms;
    }
    location = /status { ddbm_status; }
_EOC_
$r = call($q, undef, GET => '/health');
is($r->{status}, 503, 'DescribeTable throttled: /health 503');
parallel($q, 40, '/health');
sleep 1.1;
parallel($q, 40, '/health');
is(status_json($q)->{retry_quota_tokens}, 50,
   '81 /health with DescribeTable throttled: the retry quota untouched');

my $D = 'ddbm_t161d';
ddbm_fresh_table($D);
my $d = DdbmServer->start(http_config => "    ddbm_health_interval 1s;\n",
                          config => <<"_EOC_");
    location = /health {
        ddbm_table $D;
        ddbm_pattern health;
    }
_EOC_
is($d->request(GET => '/health')->{status}, 200, 'table there: 200');
ddbm_run('--table', $D, '--yes', 'drop');
sleep 1.2;
$r = $d->request(GET => '/health');
is($r->{status}, 503, 'table gone: 503');
like($r->{body}, qr/dynamodb_table_not_found/, '... table not found');
is($d->request(GET => '/health')->{status}, 503, '... from the status too');
ddbm_cli('--table', $D, 'schema-load');
sleep 1.2;
is($d->request(GET => '/health')->{status}, 200, 'created again: 200');

for my $s ($two, $srv, $rc, $tiny, $h, $q, $d) {
    my $log = $s->error_log;
    unlike($log, qr/\[(?:alert|emerg)\]|exited on signal/,
           'no alert or crash in the error log')
        or diag(join "\n", grep { /\[(?:alert|emerg)\]|signal/ }
                           split /\n/, $log);
}

done_testing();
