# ddbm_cache: the shared memory cache of what never changes (conversation
# members), what changes rarely (directory entries, for user_ttl), what
# is known not to exist (for negative_ttl), and the conversation record's
# revision (optimistic: a stale one fails its transaction's condition and
# is read again).  $ddbm_calls and $ddbm_cache (sent back here as X-Calls
# and X-Cache) show what each request cost.
#
#  - the warm paths: list messages, list conversations and a post make
#    one DynamoDB call, user short none, a new conversation one;
#  - expiry: a renamed user shows the new name after user_ttl, an unknown
#    caller who is then added is let in after negative_ttl;
#  - two NGINX instances on one table, each with its own cache, posting to
#    one conversation at once: every acknowledged message stored exactly
#    once, both rows carrying the latest message;
#  - a zone too small for what is asked of it evicts and still answers;
#  - a reload keeps the zone and what it holds.
# Plain Test::More: the cache lives as long as one nginx, over many
# requests, CLI changes and a reload.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep);
use DdbmTest;
use DdbmModule;
use DdbmServer;

my $json = JSON::PP->new->canonical;
my %SUB = %DdbmModule::SUB;
my %UUID = %DdbmModule::UUID;
my $G = $DdbmModule::GROUP;

ddbm_fresh_table('ddbm_t160');
seed_table();

sub api_config {
    my ($cache) = @_;
    my $api = ddbm_api_config();
    $api =~ s/((?:ddbm_pattern|include \$TEST_NGINX_DDBM_ROUTES\/)[^;]+;)/$1\n        add_header X-Calls \$ddbm_calls always;\n        add_header X-Cache \$ddbm_cache always;/g;
    return "    ddbm_cache $cache;\n$api";
}

# two routes making the very same GetItem (the same projection) but
# reading different attributes of it: their entries must not be shared
my $same_request = '';
for my $f (qw(user_handle user_display_name)) {
    $same_request .= <<"_EOC_";
    location ~ ^/t160/$f/@(?<handle>[^/]+)\$ {
        add_header X-Calls \$ddbm_calls always;
        add_header X-Cache \$ddbm_cache always;
        ddbm_route t160_$f GET {
            step user GetItem user_by_handle {
                key handle=path:handle;
                project user_uuid user_handle user_display_name;
                cache directory;
            }
            check found user else 404 user_not_found;
            answer user {
                object;
                field value $f;
            }
        }
    }
_EOC_
}

my $srv = DdbmServer->start(workers => 2,
                            config => api_config('zone=t160:1m')
                                      . $same_request);

sub call {
    my ($server, $sub, $method, $path, $body, %h) = @_;
    my $res = $server->request($method, $path,
                               { ($sub ? ('X-Test-Sub' => $sub) : ()), %h },
                               defined $body ? $json->encode($body)
                                             : undef);
    $res->{json} = eval { $json->decode($res->{body}) };
    $res->{calls} = $res->{headers}{'x-calls'} // '?';
    $res->{cache} = $res->{headers}{'x-cache'} // '?';
    return $res;
}

sub cost_is {
    my ($res, $status, $calls, $cache, $name) = @_;
    is("$res->{status} $res->{calls} $res->{cache}",
       "$status $calls $cache", "$name: $status, $calls call(s), $cache")
        or diag($res->{body});
}

# ---- warm paths --------------------------------------------------------

my $r = call($srv, undef, GET => '/api/users/@bayko/short');
cost_is($r, 200, 1, 'MISS', 'user short, cold');
my $first = $r->{body};
$r = call($srv, undef, GET => '/api/users/@bayko/short');
cost_is($r, 200, 0, 'HIT', 'user short, warm (any worker)');
is($r->{body}, $first, 'user short: the same answer from the cache');

$r = call($srv, $SUB{andrewbrown}, GET => '/api/message_groups');
cost_is($r, 200, 2, 'MISS', 'list conversations, cold');
$first = $r->{body};
$r = call($srv, $SUB{andrewbrown}, GET => '/api/message_groups');
cost_is($r, 200, 1, 'HIT', 'list conversations, warm');
is($r->{body}, $first, 'list conversations: the same answer');

# the seeded conversation has only the reference's rows: meta, index, page
$r = call($srv, $SUB{andrewbrown}, GET => "/api/messages/$G");
cost_is($r, 200, 3, 'PARTIAL', 'list messages, caller known');
$first = $r->{body};
$r = call($srv, $SUB{bayko}, GET => "/api/messages/$G");
cost_is($r, 200, 2, 'PARTIAL', 'list messages, members known, caller not');
is($r->{body}, $first, 'list messages: the same page for the other member');
$r = call($srv, $SUB{bayko}, GET => "/api/messages/$G");
cost_is($r, 200, 1, 'HIT', 'list messages, warm');

$r = call($srv, $SUB{londo}, GET => "/api/messages/$G");
is($r->{status}, 403, 'a non-member, members known: 403');
$r = call($srv, $SUB{londo}, GET => "/api/messages/$G");
cost_is($r, 403, 0, 'HIT', 'a non-member, warm: no call at all');

# one request, two routes reading different attributes: each its entry
for my $f (qw(user_handle user_display_name user_handle user_display_name)) {
    $r = call($srv, undef, GET => "/t160/$f/\@bayko");
    is($r->{json} && $r->{json}{value},
       $f eq 'user_handle' ? 'bayko' : $DdbmModule::NAME{bayko},
       "the same GetItem read for $f: its own value ($r->{cache})");
}
cost_is($r, 200, 0, 'HIT', 'the same GetItem, read again: from the cache');

# The reads are declared routes (nginx.conf.example), the posts still C
# patterns (issue 14): each keeps its own cache entries until the posts
# are declared too, so a post after the reads looks the caller and the
# conversation up once (4 calls: caller, record, rows, transaction), and
# the other member's first post its own caller (2).  The posts after that
# are warm.
$r = call($srv, $SUB{andrewbrown}, POST => '/api/messages',
          { message => 't160 one', message_group_uuid => $G });
cost_is($r, 200, 4, 'MISS', 'post, cold for the C pattern');
$r = call($srv, $SUB{bayko}, POST => '/api/messages',
          { message => 't160 two', message_group_uuid => $G });
cost_is($r, 200, 2, 'PARTIAL',
        'post again: the conversation kept by the post before');
$r = call($srv, $SUB{bayko}, POST => '/api/messages',
          { message => 't160 three', message_group_uuid => $G });
cost_is($r, 200, 1, 'HIT', 'post, warm: the transaction only');
my $two_at = $r->{json}{created_at};

$r = call($srv, $SUB{bayko}, GET => "/api/messages/$G?limit=3");
cost_is($r, 200, 1, 'HIT', 'list messages after the posts');
is_deeply([ map { $_->{message} } @{ $r->{json} || [] } ],
          [ 't160 one', 't160 two', 't160 three' ], '... shows the posts');

$r = call($srv, $SUB{andrewbrown}, POST => '/api/messages',
          { message => 't160 new', handle => 'londo' });
cost_is($r, 200, 2, 'PARTIAL', 'new conversation, receiver not known');
$r = call($srv, $SUB{andrewbrown}, POST => '/api/messages',
          { message => 't160 newer', handle => 'londo' });
cost_is($r, 200, 1, 'HIT', 'new conversation, warm');
my $new = $r->{json}{message_group_uuid} // '';
$r = call($srv, $SUB{londo}, GET => "/api/messages/$new");
# londo's own entry is kept since the 403s above
# the declared read asks for the record the C post wrote (then keeps it)
cost_is($r, 200, 2, 'PARTIAL', 'its receiver reads it at once');
$r = call($srv, $SUB{londo}, GET => "/api/messages/$new");
cost_is($r, 200, 1, 'HIT', 'its receiver reads it again: members known');
is($r->{json} && $r->{json}[0]{message}, 't160 newer', '... its message');

# the status the cache's requests refreshed in the background, or one call
$r = call($srv, undef, GET => '/health');
is($r->{status}, 200, 'health: 200');
ok($r->{calls} eq '0' || $r->{calls} eq '1', 'health: at most one call');
$r = call($srv, undef, GET => '/health');
cost_is($r, 200, 0, '-', 'health again: from the shared status, no call');

# ---- a stale revision: another instance wrote meanwhile ------------------

my $other = DdbmServer->start(config => api_config('zone=t160b:1m'));

$r = call($other, $SUB{bayko}, POST => '/api/messages',
          { message => 't160 from elsewhere', message_group_uuid => $G });
is($r->{status}, 200, 'the other instance posts');
$r = call($srv, $SUB{andrewbrown}, POST => '/api/messages',
          { message => 't160 after that', message_group_uuid => $G });
cost_is($r, 200, 3, 'HIT',
        'a stale revision: transaction refused, record read, written');
$r = call($other, $SUB{bayko}, GET => "/api/messages/$G?limit=3");
is_deeply([ map { $_->{message} } @{ $r->{json} || [] } ],
          [ 't160 three', 't160 from elsewhere', 't160 after that' ],
          'both instances\' messages, each once, in order');

# ---- two instances racing on one conversation ---------------------------

my $N = 12;
my @kids;
for my $i (1 .. 2 * $N) {
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my $s = $i % 2 ? $srv : $other;
        my $who = $i % 4 < 2 ? 'andrewbrown' : 'bayko';
        my $res = call($s, $SUB{$who}, POST => '/api/messages',
                       { message => "t160 race $i",
                         message_group_uuid => $G });
        POSIX::_exit($res->{status} == 200 ? 0 : 1);
    }
    push @kids, $pid;
}
my $ok = 0;
for (@kids) { waitpid($_, 0); $ok++ if $? == 0 }
is($ok, 2 * $N, "$ok of " . 2 * $N . ' racing posts across two instances: 200');

# the whole conversation (under 100 messages), oldest first
my $page = call($other, $SUB{bayko}, GET => "/api/messages/$G?limit=100");
my $items = $page->{json} || [];
my %count;
$count{ $_->{message} }++ for @$items;
is(scalar(grep { ($count{"t160 race $_"} // 0) == 1 } 1 .. 2 * $N), 2 * $N,
   'every racing message stored exactly once');

my $latest = $items->[-1];
for my $who (qw(andrewbrown bayko)) {
    my $c = call($other, $SUB{$who}, GET => '/api/message_groups');
    my @rows = grep { $_->{uuid} eq $G } @{ $c->{json} || [] };
    is(scalar @rows, 1, "$who: one row for the conversation");
    is($rows[0] && $rows[0]{created_at}, $latest && $latest->{created_at},
       "$who: the row is at the latest message");
}

# ---- expiry: user_ttl and negative_ttl ----------------------------------

my $ttl = DdbmServer->start(
    config => api_config('zone=t160ttl:1m user_ttl=2s negative_ttl=2s'));

call($ttl, undef, GET => '/api/users/@bayko/short');
$r = call($ttl, undef, GET => '/api/users/@bayko/short');
is($r->{cache}, 'HIT', 'bayko is in the cache');
ddbm_cli('--table', 'ddbm_t160', 'put-user', '--uuid', $UUID{bayko},
         '--handle', 'bayko', '--display-name', 'Andrew B. Renamed',
         '--sub', $SUB{bayko});
$r = call($ttl, undef, GET => '/api/users/@bayko/short');
is($r->{json} && $r->{json}{display_name}, 'Andrew Bayko',
   'renamed: the old name until user_ttl');
sleep 2.5;
$r = call($ttl, undef, GET => '/api/users/@bayko/short');
is($r->{json} && $r->{json}{display_name}, 'Andrew B. Renamed',
   '... the new name after it');
is($r->{cache}, 'MISS', '... read again from DynamoDB');

my $stranger = '3f0f6b4e-0b0c-4d5e-9f1a-2b3c4d5e6f70';
$r = call($ttl, $stranger, GET => '/api/message_groups');
cost_is($r, 401, 1, 'MISS', 'an unknown caller');
$r = call($ttl, $stranger, GET => '/api/message_groups');
cost_is($r, 401, 0, 'HIT', 'the unknown caller again: known absent');
ddbm_cli('--table', 'ddbm_t160', 'put-user', '--uuid',
         '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', '--handle', 'stranger',
         '--display-name', 'A Stranger', '--sub', $stranger);
$r = call($ttl, $stranger, GET => '/api/message_groups');
is($r->{status}, 401, 'added to the directory: still 401 until negative_ttl');
sleep 2.5;
$r = call($ttl, $stranger, GET => '/api/message_groups');
is($r->{status}, 200, '... let in after it');

# ---- a reload keeps the zone --------------------------------------------

$r = call($srv, undef, GET => '/api/users/@londo/short');
ok($srv->reload, 'reload: new workers');
$r = call($srv, undef, GET => '/api/users/@londo/short');
cost_is($r, 200, 0, 'HIT', 'after the reload: still in the zone');

# ---- a tiny zone evicts -------------------------------------------------

my $tiny = DdbmServer->start(config => api_config('zone=t160tiny:32k'));
my ($bad, $hits) = (0, 0);
call($tiny, undef, GET => '/api/users/@nobody1/short');
$r = call($tiny, undef, GET => '/api/users/@nobody1/short');
is($r->{cache}, 'HIT', 'tiny zone: an entry is kept');
for my $i (1 .. 600) {
    $r = call($tiny, undef, GET => "/api/users/\@nobody$i/short");
    $bad++ if $r->{status} != 404;
}
is($bad, 0, 'tiny zone: 600 unknown handles, each answered 404');
$r = call($tiny, undef, GET => '/api/users/@nobody1/short');
cost_is($r, 404, 1, 'MISS', 'tiny zone: the oldest entry was evicted');
$r = call($tiny, undef, GET => '/api/users/@bayko/short');
is($r->{status}, 200, 'tiny zone: a known user still answered');

for my $s ($srv, $other, $ttl, $tiny) {
    my $log = $s->error_log;
    unlike($log, qr/\[(?:alert|emerg|crit)\]|exited on signal/,
           'no alert, crit or crash in the error log')
        or diag(join "\n", grep { /\[(?:alert|emerg|crit)\]|signal/ }
                           split /\n/, $log);
}

done_testing();
