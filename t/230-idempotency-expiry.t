# An expired idempotency record is as good as none: DynamoDB's TTL
# deletes items late (up to days after expires_at), so the module must not
# replay the stale answer of a record it still finds.  A POST with the
# key of an expired record is answered afresh and stored, its record
# overwritten; the next identical POST replays the new answer.  A record
# that has not expired is still replayed (the comparison is the right way
# round).
#
# The records are written here as the module writes them (pk
# IDEM#<sub>#<sha256(key)[:32]>, sk IDEM, response, request_hash =
# sha256(body), expires_at) with a raw PutItem to DynamoDB Local, which
# checks the signature's form, not its value.
# Plain Test::More against an nginx of its own (t/lib/DdbmServer.pm).

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use HTTP::Tiny;
use JSON::PP;
use DdbmTest;
use DdbmModule;
use DdbmServer;

my $json = JSON::PP->new->canonical;
my %SUB = %DdbmModule::SUB;
my %UUID = %DdbmModule::UUID;
my $G = $DdbmModule::GROUP;

my $table = ddbm_fresh_table('ddbm_t230i');
seed_table();

sub ddb_call {
    my ($operation, $req) = @_;
    my $res = HTTP::Tiny->new(timeout => 10)->post(ddbm_endpoint() . '/', {
        headers => {
            'Content-Type'  => 'application/x-amz-json-1.0',
            'X-Amz-Target'  => "DynamoDB_20120810.$operation",
            'X-Amz-Date'    => '20260101T000000Z',
            'Authorization' => 'AWS4-HMAC-SHA256 Credential=local/20260101/'
                             . 'us-east-1/dynamodb/aws4_request, '
                             . 'SignedHeaders=host;x-amz-date;x-amz-target, '
                             . 'Signature=' . ('0' x 64),
        },
        content => $json->encode($req),
    });
    die "$operation: $res->{status} $res->{content}\n"
        if $res->{status} != 200;
    return $json->decode($res->{content});
}

sub idem_pk {
    my ($who, $key) = @_;
    return "IDEM#$SUB{$who}#" . substr(sha256_hex($key), 0, 32);
}

sub stale_answer {
    my ($text) = @_;
    return $json->encode({
        message_group_uuid => $G,
        uuid => $UUID{andrewbrown},
        display_name => 'Andrew Brown',
        handle => 'andrewbrown',
        message => $text,
        created_at => '2026-01-01T00:00:00.000000+00:00',
    });
}

# a record as the module writes it, for this body
sub put_record {
    my ($key, $raw, $answer, $expires_at) = @_;
    ddb_call('PutItem', {
        TableName => $table,
        Item => {
            pk => { S => idem_pk(andrewbrown => $key) },
            sk => { S => 'IDEM' },
            response => { S => $answer },
            request_hash => { S => sha256_hex($raw) },
            expires_at => { N => "$expires_at" },
        },
    });
}

sub get_record {
    my ($key) = @_;
    my $ans = ddb_call('GetItem', {
        TableName => $table, ConsistentRead => JSON::PP::true,
        Key => { pk => { S => idem_pk(andrewbrown => $key) },
                 sk => { S => 'IDEM' } },
    });
    return $ans->{Item} || {};
}

my $srv = DdbmServer->start();

sub post {
    my ($raw, $key) = @_;
    my $res = $srv->request(POST => '/api/messages',
                            { 'X-Test-Sub' => $SUB{andrewbrown},
                              'Idempotency-Key' => $key }, $raw);
    $res->{json} = eval { $json->decode($res->{body}) } || {};
    return $res;
}

sub messages {
    my $res = $srv->request(GET => "/api/messages/$G?limit=100",
                            { 'X-Test-Sub' => $SUB{andrewbrown} });
    my $list = eval { $json->decode($res->{body}) } || [];
    return @$list;
}

# ---- an expired record: a fresh answer, stored, then replayed ---------------

my $raw = $json->encode({ message => 'sent again a day later',
                          message_group_uuid => $G });
my $stale = stale_answer('the stale answer');
put_record('expired-0001', $raw, $stale, time() - 3600);

my $before = () = messages();
my $t0 = time();

my $first = post($raw, 'expired-0001');
is($first->{status}, 200, 'expired record: the POST is 200');
ok(!exists $first->{headers}{'idempotent-replayed'},
   '... not marked Idempotent-Replayed')
    or diag("Idempotent-Replayed: $first->{headers}{'idempotent-replayed'}");
isnt($first->{body}, $stale, '... not the stale stored answer');
is($first->{json}{message}, 'sent again a day later', '... the message');
isnt($first->{json}{created_at} // '', '2026-01-01T00:00:00.000000+00:00',
     '... a new created_at');
like($first->{json}{uuid} // '', qr/^[0-9a-f-]{36}$/, '... a uuid');

my @after = messages();
is(scalar @after, $before + 1, 'the message is stored');
is_deeply([ map { [ $_->{message}, $_->{created_at} ] } $after[-1] ],
          [[ 'sent again a day later', $first->{json}{created_at} ]],
          '... as the last of the conversation, at the answered time');

my $rec = get_record('expired-0001');
is($rec->{response}{S}, $first->{body},
   'the record now holds the new answer');
cmp_ok($rec->{expires_at}{N} // 0, '>=', $t0 + 86400 - 5,
       '... and expires a day from now');

my $again = post($raw, 'expired-0001');
is($again->{status}, 200, 'the same POST again: 200');
is($again->{headers}{'idempotent-replayed'}, 'true',
   '... marked Idempotent-Replayed');
is($again->{body}, $first->{body}, '... the new answer replayed');
is(scalar(() = messages()), $before + 1, '... and nothing stored twice');

# ---- a record that has not expired is replayed ------------------------------

my $raw2 = $json->encode({ message => 'retried within the day',
                           message_group_uuid => $G });
my $kept = stale_answer('the first answer');
put_record('live-0001', $raw2, $kept, time() + 3600);
my $n = () = messages();

my $live = post($raw2, 'live-0001');
is($live->{status}, 200, 'live record: 200');
is($live->{headers}{'idempotent-replayed'}, 'true',
   '... marked Idempotent-Replayed');
is($live->{body}, $kept, '... the stored answer');
is(scalar(() = messages()), $n, '... nothing stored');

# a live record's key with another body is still refused
my $other = post($json->encode({ message => 'something else',
                                 message_group_uuid => $G }), 'live-0001');
is($other->{status}, 422, 'live record, another body: 422');

$srv->stop();

done_testing();
