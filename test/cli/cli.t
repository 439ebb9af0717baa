#!/usr/bin/env perl
#
# ddbm, the command-line tool, against a running DynamoDB Local:
# schema-load, seed, list-tables, list-conversations, get-conversation,
# import-users, put-user, get-user, the error paths, drop.
#
#   DDBM_CLI=build/ddbm TEST_NGINX_DDB_PORT=8000 prove test/cli/
#
# Both variables are required: without them the test fails, it does not
# skip (scripts/test.sh starts DynamoDB Local and sets them).

use strict;
use warnings;

use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use FindBin ();
use lib "$FindBin::Bin/../../t/lib";
use DdbmTest qw(slurp);

my $cli  = $ENV{DDBM_CLI};
my $port = $ENV{TEST_NGINX_DDB_PORT};

if (!defined $cli || !-x $cli) {
    fail('DDBM_CLI names the ddbm binary (e.g. build/ddbm)');
    done_testing();
    exit 1;
}

if (!defined $port || $port !~ /^\d+$/) {
    fail('TEST_NGINX_DDB_PORT names the port of a running DynamoDB Local');
    done_testing();
    exit 1;
}

my $endpoint = "http://127.0.0.1:$port";
my $table    = sprintf('ddbm-cli-test-%d-%d', $$, time());
my $dir      = tempdir(CLEANUP => 1);
my $json     = JSON::PP->new->canonical;

my $group    = '5ae290ed-55d1-47a0-bc6d-fe2bc2700399';
my %demo = (
    andrewbrown => {
        uuid => '6f4736eb-c53a-4877-968e-ae8957f9383e',
        name => 'Andrew Brown',
        sub  => '71c568d1-29bb-4ae1-92c5-057d12db82cb',
    },
    bayko => {
        uuid => '1c57dab3-621d-431c-b55d-de5cf7274595',
        name => 'Andrew Bayko',
        sub  => '8fa3c183-b83e-47b8-b41e-68081e5ff801',
    },
    londo => {
        uuid => '69fca161-0a2d-4422-84aa-6a29d877f66e',
        name => 'Londo Mollari',
        sub  => '7d62a217-66bb-4d2e-be24-ddb1b04128f9',
    },
);

# the machine's AWS setup and DDBM_ENDPOINT/DDBM_TABLE must not leak in
# (DDBM_TEST_RUN, which tags this run's processes, stays)
delete $ENV{$_} for grep { /^AWS_/ } keys %ENV;
# nor the machine's instance metadata service (the chain's last source)
$ENV{AWS_EC2_METADATA_DISABLED} = 'true';
delete @ENV{qw(DDBM_ENDPOINT DDBM_TABLE)};
$ENV{HOME} = $dir;
$ENV{TZ}   = 'UTC';

my $uuid_re = qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;


# run(\%opts?, @args) -> ($exit, $stdout, $stderr); stdin is /dev/null
sub run {
    my %o = ref $_[0] eq 'HASH' ? %{ shift() } : ();
    my @args = @_;

    my @global = $o{raw} ? () : ('--endpoint', $endpoint, '--table', $table);

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        %ENV = (%ENV, %{ $o{env} || {} });
        open STDIN,  '<', ($o{stdin} || '/dev/null') or exit 126;
        open STDOUT, '>', "$dir/stdout" or exit 126;
        open STDERR, '>', "$dir/stderr" or exit 126;
        exec $cli, @global, @args;
        exit 127;
    }

    waitpid $pid, 0;

    return ($? >> 8, slurp("$dir/stdout"), slurp("$dir/stderr"));
}


sub write_file {
    my ($name, $content) = @_;
    my $path = "$dir/$name";
    open my $fh, '>', $path or die "$path: $!";
    print $fh $content;
    close $fh;
    return $path;
}


sub decode {
    my ($s, $what) = @_;
    my $v = eval { $json->decode($s) };
    ok($v, "$what is JSON") or diag($@, $s);
    return $v || {};
}


sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp')
        or die "socket: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}


# a DynamoDB call the CLI has no subcommand for, straight to DynamoDB Local
# (which checks the signature's form, not its value; -sharedDb: any key)
sub ddb_call {
    my ($operation, $req) = @_;
    my $res = HTTP::Tiny->new(timeout => 10)->post("$endpoint/", {
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
    my $v = eval { $json->decode($res->{content}) } || {};
    return ($res->{status}, $v);
}


my ($rc, $out, $err);
my $dropped = 0;

# a test that dies half-way does not leave its table behind
END {
    local $?;    # run() waits for a child: keep the test's exit status
    run('--yes', 'drop') if defined $rc && !$dropped;
}

# ---- schema-load --------------------------------------------------------

($rc, $out, $err) = run('schema-load');
is($rc, 0, 'schema-load exits 0') or diag($err);
like($out, qr/^table created successfully: \Q$table\E is ACTIVE .*PAY_PER_REQUEST.*index message-group-sk-index.*stream NEW_IMAGE; ttl expires_at\)$/m,
     'schema-load says the table is ACTIVE, with what it has');

# the module's idempotency records (IDEM#...) expire through TTL
{
    my ($status, $ttl) = ddb_call('DescribeTimeToLive',
                                  { TableName => $table });
    is($status, 200, 'DescribeTimeToLive answers 200')
        or diag($json->encode($ttl));
    is_deeply($ttl->{TimeToLiveDescription},
              { TimeToLiveStatus => 'ENABLED', AttributeName => 'expires_at' },
              'schema-load enabled TTL on expires_at');
}

($rc, $out, $err) = run('describe');
is($rc, 0, 'describe exits 0') or diag($err);
my $t = decode($out, 'describe output')->{Table} || {};

is($t->{TableName}, $table, 'the table has the name asked for');
is($t->{TableStatus}, 'ACTIVE', 'the table is ACTIVE');
is_deeply([ map { "$_->{AttributeName} $_->{KeyType}" } @{ $t->{KeySchema} || [] } ],
          ['pk HASH', 'sk RANGE'], 'keys: pk HASH, sk RANGE');
is_deeply({ map { $_->{AttributeName} => $_->{AttributeType} } @{ $t->{AttributeDefinitions} || [] } },
          { pk => 'S', sk => 'S', message_group_uuid => 'S' },
          'attribute definitions: all strings');
is($t->{BillingModeSummary}{BillingMode}, 'PAY_PER_REQUEST',
   'billing mode PAY_PER_REQUEST');
is($t->{StreamSpecification}{StreamViewType}, 'NEW_IMAGE', 'stream NEW_IMAGE');
ok($t->{StreamSpecification}{StreamEnabled}, 'stream enabled');

my @gsi = @{ $t->{GlobalSecondaryIndexes} || [] };
is(scalar @gsi, 1, 'one global secondary index');
is($gsi[0]{IndexName}, 'message-group-sk-index', 'the index name');
is_deeply([ map { "$_->{AttributeName} $_->{KeyType}" } @{ $gsi[0]{KeySchema} || [] } ],
          ['message_group_uuid HASH', 'sk RANGE'],
          'index keys: message_group_uuid HASH, sk RANGE');
is($gsi[0]{Projection}{ProjectionType}, 'ALL', 'index projection ALL');

# ---- seed ---------------------------------------------------------------

($rc, $out, $err) = run('seed', '--time', '2026-01-05T10:00:00.000000+00:00');
is($rc, 0, 'seed exits 0') or diag($err);
like($out, qr/seeded 3 users and conversation \Q$group\E .*12 messages/,
     'seed says what it wrote');

# ---- list-tables --------------------------------------------------------

($rc, $out, $err) = run('list-tables');
is($rc, 0, 'list-tables exits 0') or diag($err);
like($out, qr/^\Q$table\E$/m, 'list-tables shows the table on a line');

($rc, $out, $err) = run('list-tables', '--json');
ok((grep { $_ eq $table } @{ decode($out, 'list-tables --json')->{TableNames} || [] }),
   'list-tables --json lists the table');

# ---- get-conversation ---------------------------------------------------

($rc, $out, $err) = run('get-conversation', $group, '--json');
is($rc, 0, 'get-conversation --json exits 0') or diag($err);
my @items = reverse @{ decode($out, 'get-conversation --json')->{Items} || [] };
is(scalar @items, 12, 'the demo conversation has 12 messages');

my %seen_uuid;
for my $i (0 .. $#items) {
    my $it = $items[$i];
    my $who = $i % 2 ? 'bayko' : 'andrewbrown';
    my %want = (
        pk                => "MSG#$group",
        sk                => sprintf('2026-01-05T10:%02d:00.000000+00:00', $i),
        user_uuid         => $demo{$who}{uuid},
        user_handle       => $who,
        user_display_name => $demo{$who}{name},
    );
    my %got = map { $_ => $it->{$_}{S} } keys %want;

    is_deeply(\%got, \%want, "message $i: key, time and sender (the reference's layout)");
    is_deeply([ sort keys %$it ],
              [ sort qw(pk sk message_uuid message user_uuid user_display_name user_handle) ],
              "message $i: the reference's attributes, no others");
    like($it->{message_uuid}{S} // '', qr/^$uuid_re$/, "message $i: a message uuid");
    $seen_uuid{ $it->{message_uuid}{S} // '' }++;
    ok(length($it->{message}{S} // '') > 0, "message $i: text");
}
is(scalar keys %seen_uuid, 12, 'message uuids are distinct');

($rc, $out, $err) = run('get-conversation', $group);
is($rc, 0, 'get-conversation exits 0') or diag($err);

my @want_lines = map {
    sprintf('%-16s%-22s%s...', $items[$_]{user_handle}{S},
            sprintf('2026-01-05 10:%02d AM', $_),
            substr($items[$_]{message}{S}, 0, 40))
} 0 .. $#items;
is_deeply([ split /\n/, $out ], \@want_lines,
          'get-conversation prints sender, local time and message start, oldest first');

($rc, $out, $err) = run('get-conversation', $group, '--limit', '3');
is_deeply([ split /\n/, $out ], [ @want_lines[9 .. 11] ],
          '--limit 3: the newest three, oldest first');

($rc, $out, $err) = run({ env => { TZ => 'IST-5:30' } }, 'get-conversation', $group);
like((split /\n/, $out)[0], qr/^andrewbrown     2026-01-05 03:30 PM   /,
     'times are shown in the local time zone (UTC+5:30)');

($rc, $out, $err) = run({ env => { TZ => 'EST5' } }, 'get-conversation', $group);
like((split /\n/, $out)[-1], qr/^bayko           2026-01-05 05:11 AM   /,
     'times are shown in the local time zone (UTC-5)');

# ---- list-conversations -------------------------------------------------

my $last = $items[-1]{message}{S};

($rc, $out, $err) = run('list-conversations', 'andrewbrown');
is($rc, 0, 'list-conversations andrewbrown exits 0') or diag($err);
is($out, sprintf("%-22s%-16s%-38s%s...\n", '2026-01-05 10:11 AM', 'bayko',
                 $group, substr($last, 0, 40)),
   'andrewbrown has one conversation: with bayko, at the last message');

($rc, $out, $err) = run('list-conversations', 'BAYKO');
is($rc, 0, 'list-conversations BAYKO (handles are case-insensitive)') or diag($err);
like($out, qr/^2026-01-05 10:11 AM   andrewbrown     \Q$group\E  /,
     'bayko has the conversation with andrewbrown');

($rc, $out, $err) = run('list-conversations', $demo{andrewbrown}{uuid}, '--json');
is($rc, 0, 'list-conversations <uuid> --json exits 0') or diag($err);
my $grp = decode($out, 'list-conversations --json');
is($grp->{Count}, 1, 'one conversation row for andrewbrown');
is_deeply({ map { $_ => $grp->{Items}[0]{$_}{S} } keys %{ $grp->{Items}[0] || {} } },
          {
              pk                 => "GRP#$demo{andrewbrown}{uuid}",
              sk                 => '2026-01-05T10:11:00.000000+00:00',
              message_group_uuid => $group,
              message            => $last,
              user_uuid          => $demo{bayko}{uuid},
              user_display_name  => 'Andrew Bayko',
              user_handle        => 'bayko',
          },
          "andrewbrown's row: the reference's attributes, about bayko, last message");

($rc, $out, $err) = run('list-conversations', 'londo');
is($rc, 0, 'list-conversations londo exits 0') or diag($err);
is($out, '', 'londo has no conversation');
like($err, qr/no conversations for londo/, 'and is told so');

($rc, $out, $err) = run('list-conversations', 'nobody');
is($rc, 1, 'an unknown handle exits 1');
like($err, qr/^ddbm: no user with handle "nobody"/m, 'and says why');

($rc, $out, $err) = run('list-conversations', 'bad#handle');
is($rc, 2, 'a handle with # is a usage error');

# seeding again replaces the demo conversation: one row per participant
($rc, $out, $err) = run('seed', '--time', '2026-01-05T10:00:00.000000+00:00');
is($rc, 0, 'seed again, same time') or diag($err);
($rc, $out, $err) = run('seed');
is($rc, 0, 'seed again, now') or diag($err);
like($out, qr/replaced 14 earlier items/, 'the earlier messages and rows are replaced');

for my $who (qw(andrewbrown bayko)) {
    ($rc, $out, $err) = run('list-conversations', $who, '--json');
    is(decode($out, "$who rows")->{Count}, 1,
       "$who still has exactly one row for the conversation");
}

($rc, $out, $err) = run('get-conversation', $group, '--limit', '100');
is(scalar(split /\n/, $out), 12, 'and the conversation has 12 messages, not 24');

# ---- import-users -------------------------------------------------------

my $good = write_file('users.csv', join('',
    "handle,cognito_user_id,uuid,display_name\r\n",
    "Alice.W,aaaaaaaa-1111-4222-8333-444444444444,",
      "11111111-1111-4222-8333-444444444444,\"Wonder, Alice \"\"Ally\"\"\"\r\n",
    "bob_2,bbbbbbbb-1111-4222-8333-444444444444,",
      "22222222-1111-4222-8333-444444444444,Bob Two\r\n",
    "carol-3,cccccccc-1111-4222-8333-444444444444,",
      "33333333-1111-4222-8333-444444444444,\"Caról Ünicode\"\r\n",
));

($rc, $out, $err) = run('import-users', $good);
is($rc, 0, 'import-users exits 0') or diag($err);
like($out, qr/^imported 3 users into \Q$table\E/, 'and counts the users');

my %want_alice = (
    user_uuid         => '11111111-1111-4222-8333-444444444444',
    user_handle       => 'Alice.W',
    user_display_name => 'Wonder, Alice "Ally"',
    cognito_user_id   => 'aaaaaaaa-1111-4222-8333-444444444444',
    sk                => 'USER',
);

for my $case (['alice.w', 'USER#HANDLE#alice.w'],
              ['aaaaaaaa-1111-4222-8333-444444444444',
               'USER#SUB#aaaaaaaa-1111-4222-8333-444444444444'])
{
    ($rc, $out, $err) = run('get-user', $case->[0]);
    is($rc, 0, "get-user $case->[0] exits 0") or diag($err);
    my $item = decode($out, "get-user $case->[0]");
    is_deeply({ map { $_ => $item->{$_}{S} } keys %$item },
              { %want_alice, pk => $case->[1] },
              "$case->[1]: the user, quoted display name intact, no other attributes");
}

($rc, $out, $err) = run('get-user', 'carol-3');
like($out, qr/Car\x{c3}\x{b3}l \x{c3}\x{9c}nicode/, 'UTF-8 display names are kept');

($rc, $out, $err) = run('list-conversations', 'Alice.W');
is($rc, 0, 'an imported handle resolves') or diag($err);

my $bad = write_file('bad.csv', join('',
    "uuid,handle,display_name,cognito_user_id\n",
    "44444444-1111-4222-8333-444444444444,dave,Dave,dddddddd-1111-4222-8333-444444444444\n",
    "not-a-uuid,erin,Erin,eeeeeeee-1111-4222-8333-444444444444\n",
    "55555555-1111-4222-8333-444444444444,fr#nk,Frank,ffffffff-1111-4222-8333-444444444444\n",
    "66666666-1111-4222-8333-444444444444,gina,\"Gina\nwith a line break\",",
      "99999999-1111-4222-8333-444444444444\n",
    "77777777-1111-4222-8333-444444444444,hank,Hank,MOCK\n",
    "88888888-1111-4222-8333-444444444444,DAVE,Dave Again,",
      "12121212-1111-4222-8333-444444444444\n",
));

($rc, $out, $err) = run('import-users', $bad);
isnt($rc, 0, 'a CSV with bad rows exits non-zero');
like($err, qr/^ddbm: \Q$bad\E: line 3: uuid .*"not-a-uuid"/m, 'bad uuid: line 3');
like($err, qr/^ddbm: \Q$bad\E: line 4: handle .*"fr#nk"/m, 'handle with #: line 4');
like($err, qr/^ddbm: \Q$bad\E: line 5: display_name /m, 'control character in a name: line 5');
like($err, qr/^ddbm: \Q$bad\E: line 7: cognito_user_id .*"MOCK"/m, 'a sub that is not a uuid: line 7');
like($err, qr/^ddbm: \Q$bad\E: line 8: handle \(case-insensitive\) also on line 2/m,
     'a handle taken twice: line 8');
like($err, qr/nothing written/, 'says nothing was written');
is($out, '', 'prints no success');

($rc, $out, $err) = run('get-user', 'dave');
is($rc, 1, 'the good row of the bad CSV was not written either');

($rc, $out, $err) = run('import-users', "$dir/missing.csv");
is($rc, 1, 'a missing file exits 1');
like($err, qr/cannot open .*missing\.csv/, 'and says so');

# ---- put-user -----------------------------------------------------------

my @ivan = ('--uuid', '99999999-aaaa-4bbb-8ccc-dddddddddddd',
            '--display-name', 'Ivan I',
            '--sub', '12345678-aaaa-4bbb-8ccc-dddddddddddd');

($rc, $out, $err) = run('put-user', '--handle', 'Ivan', @ivan);
is($rc, 0, 'put-user exits 0') or diag($err);
like($out, qr/^user Ivan \(99999999-aaaa-4bbb-8ccc-dddddddddddd\) written/, 'and says so');

($rc, $out, $err) = run('get-user', 'ivan');
is(decode($out, 'get-user ivan')->{user_display_name}{S}, 'Ivan I',
   'put-user wrote the handle item');
($rc, $out, $err) = run('get-user', '12345678-aaaa-4bbb-8ccc-dddddddddddd');
is(decode($out, 'get-user <sub>')->{user_handle}{S}, 'Ivan',
   'put-user wrote the sub item');

($rc, $out, $err) = run('put-user', '--handle', 'ivan_new', @ivan);
is($rc, 0, 'put-user with a new handle') or diag($err);
($rc, $out, $err) = run('get-user', 'ivan');
is($rc, 1, 'the handle given up no longer resolves');
($rc, $out, $err) = run('get-user', '12345678-aaaa-4bbb-8ccc-dddddddddddd');
is(decode($out, 'get-user <sub>')->{user_handle}{S}, 'ivan_new',
   'the sub item has the new handle');

($rc, $out, $err) = run('put-user', '--handle', 'iv#an', @ivan);
is($rc, 2, 'put-user with a bad handle is a usage error');
like($err, qr/handle must be/, 'and says why');

($rc, $out, $err) = run('put-user', '--handle', 'ivan');
is($rc, 2, 'put-user without all options is a usage error');

# ---- errors -------------------------------------------------------------

my $nowhere = 'http://127.0.0.1:' . free_port();

for my $id ('not-a-uuid', "MSG#$group", uc $group, "$group#x") {
    ($rc, $out, $err) = run({ raw => 1 }, '--endpoint', $nowhere,
                            'get-conversation', $id);
    is($rc, 2, "get-conversation '$id' is a usage error");
    like($err, qr/is not a message_group_uuid/, '... saying why');
    unlike($err, qr/cannot reach/, '... and nothing was sent');
}

($rc, $out, $err) = run('schema-load');
is($rc, 1, 'schema-load of an existing table exits 1');
like($err, qr/^ddbm: CreateTable: ResourceInUseException: \S/m,
     'with the DynamoDB error type and message');

($rc, $out, $err) = run({ raw => 1 }, '--endpoint', $endpoint,
                        '--table', "$table-missing", 'drop');
is($rc, 1, 'drop of a missing table exits 1');
like($err, qr/^ddbm: DeleteTable: ResourceNotFoundException: \S/m,
     'with the DynamoDB error type and message');

($rc, $out, $err) = run({ raw => 1 }, '--endpoint', $nowhere, '--table',
                        $table, 'list-tables');
is($rc, 1, 'an unreachable endpoint exits 1');
like($err, qr/^ddbm: cannot reach \Q$nowhere\E: \S/m, 'and says which');

($rc, $out, $err) = run('no-such-command');
is($rc, 2, 'an unknown command is a usage error');

($rc, $out, $err) = run('get-conversation', $group, '--limit', 'x');
is($rc, 2, 'a bad --limit is a usage error');

($rc, $out, $err) = run({ raw => 1 }, '--endpoint', 'ftp://x', 'list-tables');
is($rc, 2, 'an endpoint that is not http(s) is a usage error');

($rc, $out, $err) = run({ env => { AWS_ACCESS_KEY_ID => 'AKIDEXAMPLE',
                                   AWS_SECRET_ACCESS_KEY => 'not-a-secret' } },
                        'drop', 'prod');
is($rc, 2, 'drop on prod without a terminal and without --yes is refused');
like($err, qr/refusing to drop table \Q$table\E/, 'and says why');
unlike($out . $err, qr/not-a-secret/, 'secrets are never printed');

($rc, $out, $err) = run('--prod', 'list-tables');
is($rc, 1, 'prod without credentials exits 1');
like($err, qr/no AWS credentials/, 'and says so');

($rc, $out, $err) = run('describe');
is(decode($out, 'describe')->{Table}{TableStatus}, 'ACTIVE',
   'the refused drop left the table alone');

# ---- create-table (examples/notes/table.json) ---------------------------

{
    my $spec = $json->decode(slurp("$FindBin::Bin/../../examples/notes/table.json"));
    ok($spec->{TableName}, 'examples/notes/table.json is a CreateTable input');
    my $notes = "$table-notes";

    # its TableName, else --table's
    delete $spec->{TableName};
    my $file = write_file('notes-table.json', $json->encode($spec));
    my ($nrc, $nout, $nerr) = run({ raw => 1 }, '--endpoint', $endpoint,
                                  '--table', $notes, 'create-table', $file);
    is($nrc, 0, 'create-table exits 0') or diag($nerr);
    like($nout, qr/^table created successfully: \Q$notes\E is ACTIVE at /m,
         'and says the table is ACTIVE');

    my ($status, $d) = ddb_call('DescribeTable', { TableName => $notes });
    my %gsi = map { $_->{IndexName} => $_ }
              @{ $d->{Table}{GlobalSecondaryIndexes} || [] };
    is(join(',', sort keys %gsi), 'notes-by-tag,notes-by-update',
       'with the file\'s indexes');
    my $gsi = $gsi{'notes-by-tag'};
    is($gsi && join(',', map { "$_->{AttributeName}:$_->{KeyType}" }
                          @{ $gsi->{KeySchema} }),
       'owner_id:HASH,tag:RANGE', 'keyed as the file says');
    $gsi = $gsi{'notes-by-update'};
    is($gsi && join(',', map { "$_->{AttributeName}:$_->{KeyType}" }
                          @{ $gsi->{KeySchema} }),
       'owner_id:HASH,updated_at:RANGE', 'the second keyed as the file says');
    is($gsi && $gsi->{Projection}{ProjectionType}, 'KEYS_ONLY',
       'the second holds the keys only');

    ($nrc, $nout, $nerr) = run({ raw => 1 }, '--endpoint', $endpoint,
                               '--table', $notes, 'create-table', $file);
    is($nrc, 1, 'create-table of a table that exists exits 1');
    like($nerr, qr/ResourceInUseException/, 'with DynamoDB\'s reason');

    $spec->{TableName} = "$notes-2";
    $file = write_file('notes-table-2.json', $json->encode($spec));
    ($nrc, $nout, $nerr) = run('create-table', $file);
    is($nrc, 0, 'create-table: the file\'s TableName over --table')
        or diag($nerr);
    ($status) = ddb_call('DescribeTable', { TableName => "$notes-2" });
    is($status, 200, 'the table has the file\'s name');

    ($nrc, $nout, $nerr) = run('create-table',
                               write_file('bad.json', "{\n \"TableName\": \n"));
    is($nrc, 1, 'create-table of a file that is not JSON exits 1');
    like($nerr, qr/bad\.json: line \d+: /, 'and names the file and line');

    ($nrc, $nout, $nerr) = run('create-table');
    is($nrc, 2, 'create-table without a file is a usage error');

    ddb_call('DeleteTable', { TableName => $_ }) for $notes, "$notes-2";
}

# ---- drop ---------------------------------------------------------------

($rc, $out, $err) = run('drop');
is($rc, 0, 'drop exits 0') or diag($err);
$dropped = 1;
like($out, qr/^table \Q$table\E deleted$/m, 'and says so');

($rc, $out, $err) = run('list-tables');
is($rc, 0, 'list-tables after drop exits 0');
unlike($out, qr/^\Q$table\E$/m, 'the table is gone from the list');

($rc, $out, $err) = run('describe');
is($rc, 1, 'describe of the dropped table exits 1');
like($err, qr/ResourceNotFoundException/, 'with ResourceNotFoundException');

done_testing();
