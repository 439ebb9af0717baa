# Flows a Test::Nginx block cannot express: a new conversation readable by
# both participants at once (its uuid carried from the POST), idempotent
# retries (sequential and racing), and many parallel POSTs to one
# conversation from both participants: every acknowledged message stored
# exactly once, a retry with the same Idempotency-Key storing nothing
# twice, one GRP# row per participant and conversation carrying its latest
# message, and both participants able to read right after the POST
# (README, "Data model").
# Plain Test::More against an nginx of its own (t/lib/DdbmServer.pm).

use strict;
use warnings;

use Test::More;
use JSON::PP;
use POSIX ();
use DdbmTest;
use DdbmModule;
use DdbmServer;

my $json = JSON::PP->new->canonical;
my %SUB = %DdbmModule::SUB;
my $G = $DdbmModule::GROUP;

ddbm_fresh_table('ddbm_t120');
seed_table();

my $srv = DdbmServer->start();

sub call {
    my ($who, $method, $path, $body, %h) = @_;
    my $res = $srv->request($method, $path,
                            { 'X-Test-Sub' => $SUB{$who}, %h },
                            defined $body ? $json->encode($body) : undef);
    $res->{json} = eval { $json->decode($res->{body}) };
    return $res;
}

# ---- a new conversation, readable by both at once -------------------------

my $r = call(bayko => POST => '/api/messages',
             { message => 'a fresh start', handle => 'londo' });
is($r->{status}, 200, 'new conversation: 200');
my $new = $r->{json}{message_group_uuid} // '';
like($new, qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
     'new conversation: a v4 message_group_uuid');

for my $who (qw(bayko londo)) {
    my $m = call($who => GET => "/api/messages/$new");
    is($m->{status}, 200, "$who reads the new conversation at once");
    is_deeply([ map { [ @$_{qw(handle display_name message created_at)} ] }
                @{ $m->{json} || [] } ],
              [[ 'bayko', 'Andrew Bayko', 'a fresh start',
                 $r->{json}{created_at} ]],
              "$who: the first message, field by field");

    my $c = call($who => GET => '/api/message_groups');
    my ($row) = grep { $_->{uuid} eq $new } @{ $c->{json} || [] };
    is($row && $row->{message}, 'a fresh start',
       "$who lists the new conversation with its last message");
    is($row && $row->{handle}, $who eq 'bayko' ? 'londo' : 'bayko',
       "$who sees the other participant");
}

my $m = call(andrewbrown => GET => "/api/messages/$new");
is($m->{status}, 403, 'a third user cannot read the new conversation');
$m = call(andrewbrown => POST => '/api/messages',
          { message => 'me too', message_group_uuid => $new });
is($m->{status}, 403, 'nor post to it');

$m = call(londo => POST => '/api/messages',
          { message => 'welcome', message_group_uuid => $new });
is($m->{status}, 200, 'the receiver replies');
$m = call(bayko => GET => "/api/messages/$new");
is_deeply([ map { $_->{message} } @{ $m->{json} || [] } ],
          [ 'a fresh start', 'welcome' ], 'both messages, oldest first');

# ---- idempotent retries ---------------------------------------------------

sub count_messages {
    my ($group) = @_;
    my $res = call(andrewbrown => GET => "/api/messages/$group?limit=100");
    return scalar @{ $res->{json} || [] };
}

my $before = count_messages($G);
my $body = { message => 'sent once, retried', message_group_uuid => $G };
my $first = call(andrewbrown => POST => '/api/messages', $body,
                 'Idempotency-Key' => 'retry-0001');
my $again = call(andrewbrown => POST => '/api/messages', $body,
                 'Idempotency-Key' => 'retry-0001');
is($first->{status}, 200, 'idempotent POST: 200');
is($again->{status}, 200, 'its retry: 200');
is($again->{body}, $first->{body}, 'the retry gets the first answer');
is($again->{headers}{'idempotent-replayed'}, 'true',
   'marked Idempotent-Replayed');
ok(!$first->{headers}{'idempotent-replayed'}, 'the first is not');
is(count_messages($G), $before + 1, 'stored once');

my $other = call(andrewbrown => POST => '/api/messages',
                 { message => 'something else', message_group_uuid => $G },
                 'Idempotency-Key' => 'retry-0001');
is($other->{status}, 422, 'the same key with another body: 422');
is($other->{body}, '["idempotency_key_reused"]', 'idempotency_key_reused');

my $bayko_key = call(bayko => POST => '/api/messages', $body,
                     'Idempotency-Key' => 'retry-0001');
is($bayko_key->{status}, 200, 'keys are per user: another user may use it');
isnt($bayko_key->{body}, $first->{body}, '... and gets an answer of its own');
is(count_messages($G), $before + 2, 'stored');

# racing retries of one request: all answered alike, stored once
sub parallel {
    my (@jobs) = @_;
    my @kids;
    for my $job (@jobs) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            close $rd;
            my $res = call(@$job);
            print $wr $json->encode({ status => $res->{status},
                                      body => $res->{body},
                                      retry_after =>
                                          $res->{headers}{'retry-after'} });
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [ $pid, $rd ];
    }
    my @out;
    for (@kids) {
        my ($pid, $rd) = @$_;
        local $/;
        my $text = <$rd>;
        waitpid($pid, 0);
        push @out, eval { $json->decode($text) } || { status => 0 };
    }
    return @out;
}

$before = count_messages($G);
my $race = { message => 'racing retry', message_group_uuid => $G };
my @res = parallel(map { [ bayko => POST => '/api/messages', $race,
                           'Idempotency-Key' => 'race-7' ] } 1 .. 6);
is(scalar(grep { $_->{status} == 200 } @res), 6,
   'six racing retries: all 200');
is(scalar(keys %{{ map { $_->{body} => 1 } @res }}), 1,
   'all with the same answer');
is(count_messages($G), $before + 1, 'stored once');

# ---- many parallel POSTs from both participants ---------------------------

my $N = 40;
$before = count_messages($G);
@res = parallel(map {
           [ ($_ % 2 ? 'andrewbrown' : 'bayko') => POST => '/api/messages',
             { message => "parallel $_", message_group_uuid => $G } ]
       } 1 .. $N);

my @ok = grep { $_->{status} == 200 } @res;
my @busy = grep { $_->{status} == 503 } @res;
is(@ok + @busy, $N, "$N parallel POSTs: each 200 or 503 (busy), nothing else")
    or diag explain [ map { $_->{status} } @res ];
ok(@ok >= $N * 0.9, 'at least 90% stored (' . scalar(@ok) . " of $N)");
ok(!grep({ ($_->{retry_after} // '') ne '1' } @busy),
   'every 503 says Retry-After');

my $page = call(andrewbrown => GET => "/api/messages/$G?limit=100");
my @stored = grep { $_->{message} =~ /^parallel \d+$/ } @{ $page->{json} };
is(scalar @stored, scalar @ok, 'as many stored as acknowledged');

my %stored = map { ("$_->{message}|$_->{created_at}" => 1) } @stored;
my @acked = map { my $j = $json->decode($_->{body});
                  "$j->{message}|$j->{created_at}" } @ok;
is(scalar(grep { $stored{$_} } @acked), scalar @acked,
   'every acknowledged message stored, with its time');
my %times;
$times{$_->{created_at}}++ for @{ $page->{json} };
ok(!grep({ $_ > 1 } values %times), 'no two messages share a key');

my $latest = $page->{json}[-1];
for my $who (qw(andrewbrown bayko)) {
    my $c = call($who => GET => '/api/message_groups');
    my @rows = grep { $_->{uuid} eq $G } @{ $c->{json} || [] };
    is(scalar @rows, 1, "$who has exactly one row for the conversation");
    is($rows[0]{message} . '|' . $rows[0]{created_at},
       "$latest->{message}|$latest->{created_at}",
       "$who: the row holds the latest message and its time");
}

unlike($srv->error_log, qr/\[(alert|emerg|crit)\]|exited on signal/,
       'no alert, crash or critical error in the log');

$srv->stop;
done_testing();
