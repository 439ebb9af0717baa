#!/usr/bin/env perl
#
# ddbm on the wire, against a scripted fake DynamoDB: the request it sends
# (headers, SigV4 signature recomputed here independently, bodies), the
# credential chain, retries of throttling and 5xx, error reporting, paging.
#
#   DDBM_CLI=build/ddbm prove test/cli/
#
# DDBM_CLI is required: without it the test fails, it does not skip.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256 hmac_sha256_hex sha256_hex);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use FindBin ();
use lib "$FindBin::Bin/../../t/lib";
use DdbmTest qw(slurp);

my $cli = $ENV{DDBM_CLI};

if (!defined $cli || !-x $cli) {
    fail('DDBM_CLI names the ddbm binary (e.g. build/ddbm)');
    done_testing();
    exit 1;
}

my $dir  = tempdir(CLEANUP => 1);
my $json = JSON::PP->new->canonical;

# the machine's AWS setup and DDBM_ENDPOINT/DDBM_TABLE must not leak in
# (DDBM_TEST_RUN, which tags this run's processes, stays)
delete $ENV{$_} for grep { /^AWS_/ } keys %ENV;
# nor the machine's instance metadata service (the chain's last source)
$ENV{AWS_EC2_METADATA_DISABLED} = 'true';
delete @ENV{qw(DDBM_ENDPOINT DDBM_TABLE)};
$ENV{HOME} = $dir;
$ENV{TZ}   = 'UTC';

# AWS's documentation example keys, not real ones
my $akid   = 'AKIDEXAMPLE';
my $secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
# as long as real STS, IMDS and container tokens (700 to 1200+ characters)
my $token  = 'FwoGZXIvYXdzEXAMPLETOKEN/+=' . ('AbCdEfGh0123/+' x 90);


# A fake endpoint answering with @answers in turn ([status, body] each),
# one request per connection; every request is logged as a JSON line.
sub serve {
    my (@answers) = @_;

    my $srv = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                    LocalPort => 0, Proto => 'tcp',
                                    ReuseAddr => 1)
        or die "listen: $!";
    my $port = $srv->sockport;
    my $log = "$dir/requests-$port";

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        # never outlive a test that died half-way
        alarm 60;

        for my $a (@answers) {
            my $c = $srv->accept or last;
            my ($line, %h, @raw) = (scalar <$c>);
            last unless defined $line;
            while (my $l = <$c>) {
                $l =~ s/\r?\n$//;
                last if $l eq '';
                push @raw, $l;
                my ($k, $v) = split /:\s*/, $l, 2;
                $h{ lc $k } = $v;
            }
            my $body = '';
            read($c, $body, $h{'content-length'} || 0);

            open my $fh, '>>', $log or die;
            print $fh $json->encode({ line => $line, headers => \%h,
                                      raw => \@raw, body => $body }), "\n";
            close $fh;

            my ($status, $text) = @$a;
            print $c "HTTP/1.1 $status X\r\n",
                     "Content-Type: application/x-amz-json-1.0\r\n",
                     'Content-Length: ', length($text), "\r\n",
                     "Connection: close\r\n\r\n", $text;
            close $c;
        }
        exit 0;
    }

    close $srv;

    return { port => $port, pid => $pid, log => $log,
             url => "http://127.0.0.1:$port" };
}


sub requests {
    my ($s) = @_;
    kill 'TERM', $s->{pid};
    waitpid $s->{pid}, 0;
    return [ map { $json->decode($_) } grep { length } split /\n/,
             slurp($s->{log}) ];
}


sub run {
    my %o = ref $_[0] eq 'HASH' ? %{ shift() } : ();
    my @args = @_;

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        %ENV = (%ENV, %{ $o{env} || {} });
        open STDIN,  '<', '/dev/null' or exit 126;
        open STDOUT, '>', "$dir/stdout" or exit 126;
        open STDERR, '>', "$dir/stderr" or exit 126;
        exec $cli, @args;
        exit 127;
    }

    waitpid $pid, 0;

    return ($? >> 8, slurp("$dir/stdout"), slurp("$dir/stderr"));
}


# SigV4 from first principles: what a verifier at AWS would compute
sub expected_authorization {
    my ($req, $secret_key) = @_;
    my $h = $req->{headers};

    my ($cred, $signed) = $h->{authorization}
        =~ m{^AWS4-HMAC-SHA256 Credential=([^,]+), SignedHeaders=([^,]+), Signature=[0-9a-f]{64}$}
        or return '';
    my ($id, $date, $region, $service) = split m{/}, $cred;

    my @names = split /;/, $signed;
    my $canonical = join("\n",
        'POST', '/', '',
        (map { my $v = $h->{$_}; $v =~ s/^\s+|\s+$//g; "$_:$v" } @names),
        '', $signed, sha256_hex($req->{body}));

    my $scope = "$date/$region/$service/aws4_request";
    my $sts = join("\n", 'AWS4-HMAC-SHA256', $h->{'x-amz-date'}, $scope,
                   sha256_hex($canonical));

    my $k = hmac_sha256($date, "AWS4$secret_key");
    $k = hmac_sha256($region, $k);
    $k = hmac_sha256($service, $k);
    $k = hmac_sha256('aws4_request', $k);

    return "AWS4-HMAC-SHA256 Credential=$cred, SignedHeaders=$signed, "
         . 'Signature=' . hmac_sha256_hex($sts, $k);
}


my ($s, $r, $rc, $out, $err);

# ---- the request and its signature --------------------------------------

$s = serve([200, '{"TableNames":["alpha","beta"]}']);
($rc, $out, $err) = run({ env => { AWS_ACCESS_KEY_ID => $akid,
                                   AWS_SECRET_ACCESS_KEY => $secret,
                                   AWS_SESSION_TOKEN => $token } },
                        '--endpoint', $s->{url}, '--region', 'eu-west-1',
                        'list-tables');
$r = requests($s);

is($rc, 0, 'list-tables against the fake endpoint') or diag($err);
is($out, "alpha\nbeta\n", 'prints the table names, one per line');
is(scalar @$r, 1, 'one request');

my $h = $r->[0]{headers};
like($r->[0]{line}, qr{^POST / HTTP/1\.1\r?\n$}, 'POST /');
is($h->{host}, "127.0.0.1:$s->{port}", 'Host is the endpoint authority');
is($h->{'content-type'}, 'application/x-amz-json-1.0', 'Content-Type');
is($h->{'x-amz-target'}, 'DynamoDB_20120810.ListTables', 'X-Amz-Target');
like($h->{'x-amz-date'}, qr/^\d{8}T\d{6}Z$/, 'X-Amz-Date');
is($h->{'x-amz-security-token'}, $token, 'the session token is sent');
like($h->{authorization},
     qr{^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/eu-west-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=[0-9a-f]{64}$},
     'Authorization: scope and signed headers');
is($h->{authorization}, expected_authorization($r->[0], $secret),
   'the signature is right for what was sent (recomputed independently)');
ok(!exists $h->{expect}, 'no Expect: 100-continue');
is_deeply($json->decode($r->[0]{body}), {}, 'ListTables body');
unlike($out . $err, qr/\Q$secret\E|\Q$token\E/, 'no secret in the output');

# ---- the credential chain ------------------------------------------------

mkdir "$dir/.aws";
open my $fh, '>', "$dir/.aws/credentials" or die;
print $fh "[default]\naws_access_key_id = AKIDFILE\n",
          "aws_secret_access_key = file-secret\n\n",
          "[dev]\naws_access_key_id=AKIDDEV\naws_secret_access_key=dev-secret\n";
close $fh;
open $fh, '>', "$dir/.aws/config" or die;
print $fh "[default]\nregion = ap-south-1\n[profile dev]\nregion = sa-east-1\n",
          "s3 =\n  max_concurrent_requests = 2\n";
close $fh;

$s = serve([200, '{"TableNames":[]}']);
($rc, $out, $err) = run('--endpoint', $s->{url}, 'list-tables');
$r = requests($s);
is($rc, 0, 'credentials from the shared file') or diag($err);
like($r->[0]{headers}{authorization}, qr{Credential=AKIDFILE/\d{8}/ap-south-1/},
     '[default] keys and the config file region');
is($r->[0]{headers}{authorization}, expected_authorization($r->[0], 'file-secret'),
   'signed with the file secret');
ok(!exists $r->[0]{headers}{'x-amz-security-token'}, 'no token header without a token');

$s = serve([200, '{"TableNames":[]}']);
($rc, $out, $err) = run({ env => { AWS_PROFILE => 'dev' } },
                        '--endpoint', $s->{url}, 'list-tables');
$r = requests($s);
like($r->[0]{headers}{authorization}, qr{Credential=AKIDDEV/\d{8}/sa-east-1/},
     'AWS_PROFILE picks the profile and its region');

$s = serve([200, '{"TableNames":[]}']);
($rc, $out, $err) = run({ env => { AWS_REGION => 'us-west-2',
                                   AWS_ACCESS_KEY_ID => 'AKIDENV',
                                   AWS_SECRET_ACCESS_KEY => 'env-secret' } },
                        '--endpoint', $s->{url}, 'list-tables');
$r = requests($s);
like($r->[0]{headers}{authorization}, qr{Credential=AKIDENV/\d{8}/us-west-2/},
     'the environment wins over the files');

unlink "$dir/.aws/credentials", "$dir/.aws/config";

$s = serve([200, '{"TableNames":[]}']);
($rc, $out, $err) = run('--endpoint', $s->{url}, 'list-tables');
$r = requests($s);
is($rc, 0, 'a local endpoint without credentials works') or diag($err);
like($r->[0]{headers}{authorization}, qr{Credential=local/\d{8}/us-east-1/},
     'with dummy credentials and us-east-1');

# the chain's later sources (src/core/dm_credchain.c) through fakes

open $fh, '>', "$dir/.aws/credentials" or die;
print $fh "[dev]\naws_access_key_id=AKIDDEV\naws_secret_access_key=dev-secret\n",
          "[assume]\nrole_arn = arn:aws:iam::123456789012:role/r\n",
          "source_profile = dev\n";
close $fh;

$s = serve([200, '{"TableNames":[]}']);
($rc, $out, $err) = run({ env => { AWS_ACCESS_KEY_ID => 'AKIDENV',
                                   AWS_SECRET_ACCESS_KEY => 'env-secret' } },
                        '--profile', 'dev', '--endpoint', $s->{url},
                        'list-tables');
$r = requests($s);
like($r->[0]{headers}{authorization}, qr{Credential=AKIDDEV/},
     '--profile wins over the environment');

($rc, $out, $err) = run('--profile', 'nowhere', '--endpoint', $s->{url},
                        'list-tables');
is($rc, 1, 'an unknown --profile exits 1');
like($err, qr/profile: "nowhere" not found/, 'and names it');

($rc, $out, $err) = run('--profile', 'assume', '--endpoint', $s->{url},
                        'list-tables');
is($rc, 1, 'a role_arn profile exits 1');
like($err, qr/role_arn .*not implemented/, 'not implemented');
like($err, qr/export-credentials --profile assume/, 'with a hint');
unlink "$dir/.aws/credentials";

my $ccreds = $json->encode({ AccessKeyId => 'ASIACONTAINER',
                             SecretAccessKey => 'container-secret',
                             Token => 'container-token',
                             Expiration => '2099-01-01T00:00:00Z' });
my $c = serve([200, $ccreds]);
$s = serve([200, '{"TableNames":[]}']);
($rc, $out, $err) = run({ env => {
        AWS_CONTAINER_CREDENTIALS_FULL_URI => "$c->{url}/v1/credentials",
        AWS_CONTAINER_AUTHORIZATION_TOKEN => 'container-auth' } },
    '--endpoint', $s->{url}, 'list-tables');
my $cr = requests($c);
$r = requests($s);
is($rc, 0, 'container credentials') or diag($err);
like($cr->[0]{line}, qr{^GET /v1/credentials HTTP/1\.1\r?\n$},
     'GET of the FULL_URI');
is($cr->[0]{headers}{authorization}, 'container-auth',
   'with the authorization token');
like($r->[0]{headers}{authorization}, qr{Credential=ASIACONTAINER/},
     'the container key signs');
is($r->[0]{headers}{authorization},
   expected_authorization($r->[0], 'container-secret'),
   'with the container secret');
is($r->[0]{headers}{'x-amz-security-token'}, 'container-token',
   'and its session token');
unlike($out . $err, qr/container-(secret|token|auth)/, 'no secret shown');

($rc, $out, $err) = run({ env => {
        AWS_CONTAINER_CREDENTIALS_FULL_URI => 'http://10.0.0.1/creds' } },
    '--endpoint', $s->{url}, 'list-tables');
is($rc, 1, 'a container URI outside the allowed hosts exits 1');
like($err, qr/FULL_URI is not https/, 'and says why');

my $m = serve([200, 'imds-session-token'], [200, "ddbm-role\n"],
              [200, $ccreds =~ s/^\{/{"Code":"Success",/r]);
$s = serve([200, '{"TableNames":[]}']);
($rc, $out, $err) = run({ env => {
        AWS_EC2_METADATA_DISABLED => '',
        AWS_EC2_METADATA_SERVICE_ENDPOINT => "$m->{url}/" } },
    '--prod', '--endpoint', $s->{url}, 'list-tables');
my $mr = requests($m);
$r = requests($s);
is($rc, 0, 'instance metadata credentials (IMDSv2)') or diag($err);
like($mr->[0]{line}, qr{^PUT /latest/api/token }, 'a token PUT');
is($mr->[0]{headers}{'x-aws-ec2-metadata-token-ttl-seconds'}, '21600',
   'with its TTL');
like($mr->[2]{line},
     qr{^GET /latest/meta-data/iam/security-credentials/ddbm-role },
     'then the role\'s credentials');
is($mr->[2]{headers}{'x-aws-ec2-metadata-token'}, 'imds-session-token',
   'with the session token');
like($r->[0]{headers}{authorization}, qr{Credential=ASIACONTAINER/},
     'and they sign');

# ---- retries and errors --------------------------------------------------

my $throttle = '{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}';
my $internal = '{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}';

$s = serve([400, $throttle], [400, $throttle], [200, '{"TableNames":["x1"]}']);
($rc, $out, $err) = run('--endpoint', $s->{url}, 'list-tables');
$r = requests($s);
is($rc, 0, 'throttling is retried') or diag($err);
is(scalar @$r, 3, 'twice, then the answer');
is($out, "x1\n", 'and the answer is used');
isnt($r->[0]{headers}{authorization}, undef, 'every try is signed');

$s = serve(([500, $internal]) x 6);
($rc, $out, $err) = run('--endpoint', $s->{url}, 'list-tables');
$r = requests($s);
is($rc, 1, '5xx every time: exit 1');
is(scalar @$r, 5, 'after 5 tries');
is($err, "ddbm: ListTables: InternalServerError: Internal server error\n",
   'ddbm: <operation>: <ErrorType>: <message>');

$s = serve([400, '{"__type":"com.amazon.coral.validate#ValidationException","Message":"1 validation error"}'],
           [200, '{}']);
($rc, $out, $err) = run('--endpoint', $s->{url}, 'describe');
$r = requests($s);
is($rc, 1, 'a validation error exits 1');
is(scalar @$r, 1, 'and is not retried');
is($err, "ddbm: DescribeTable: ValidationException: 1 validation error\n",
   '"Message" as well as "message"');

$s = serve(([502, '<html><body>Bad gateway</body></html>']) x 5);
($rc, $out, $err) = run('--endpoint', $s->{url}, '--table', 'cruddur-messages',
                        'get-conversation', '5ae290ed-55d1-47a0-bc6d-fe2bc2700399');
$r = requests($s);
is($rc, 1, 'a proxy error page, every try, exits 1');
is(scalar @$r, 5, 'after 5 tries (5xx are retried)');
like($err, qr{^ddbm: Query: HTTP 502: <html><body>Bad gateway}, 'and shows the status and body');

$s = serve([200, '{"Items":[{"sk":{"S":"2026-01-0']);
($rc, $out, $err) = run('--endpoint', $s->{url}, 'get-conversation',
                        '5ae290ed-55d1-47a0-bc6d-fe2bc2700399');
$r = requests($s);
is($rc, 1, 'a truncated answer exits 1');
like($err, qr/^ddbm: Query: unreadable answer from DynamoDB/, 'and says so');

# ---- request bodies and paging -------------------------------------------

sub msg {
    my ($min, $who, $text) = @_;
    return { pk => { S => 'MSG#5ae290ed-55d1-47a0-bc6d-fe2bc2700399' },
             sk => { S => sprintf('2026-03-01T14:%02d:00.000000+00:00', $min) },
             message_uuid => { S => '0b0b0b0b-0000-4000-8000-00000000000' . ($min % 10) },
             message => { S => $text },
             user_uuid => { S => '6f4736eb-c53a-4877-968e-ae8957f9383e' },
             user_display_name => { S => 'X' },
             user_handle => { S => $who } };
}

my $page1 = $json->encode({ Count => 3, Items => [ msg(9, 'bayko', 'nine'),
    msg(8, 'andrewbrown', 'eight'), msg(7, 'bayko', 'seven') ],
    LastEvaluatedKey => { pk => { S => 'MSG#5ae290ed-55d1-47a0-bc6d-fe2bc2700399' },
                          sk => { S => '2026-03-01T14:07:00.000000+00:00' } } });
my $page2 = $json->encode({ Count => 2, Items => [
    msg(6, 'andrewbrown', "six\nwith a line break and a long tail to cut off here"),
    msg(5, 'bayko', 'five') ] });

$s = serve([200, $page1], [200, $page2]);
($rc, $out, $err) = run('--endpoint', $s->{url}, '--table', 'msgs-table',
                        'get-conversation', '5ae290ed-55d1-47a0-bc6d-fe2bc2700399',
                        '--limit', '5');
$r = requests($s);
is($rc, 0, 'get-conversation over two pages') or diag($err);
is(scalar @$r, 2, 'two Query calls');

my $q1 = $json->decode($r->[0]{body});
is($q1->{TableName}, 'msgs-table', 'Query: the table');
is($q1->{Limit}, 5, 'Query: Limit');
ok(!$q1->{ScanIndexForward}, 'Query: newest first');
ok($q1->{ConsistentRead}, 'Query: consistent');
is($q1->{ExpressionAttributeValues}{':k'}{S}, 'MSG#5ae290ed-55d1-47a0-bc6d-fe2bc2700399',
   'Query: pk MSG#<group>');
unlike($r->[0]{body}, qr/begins_with/, 'no year filter');

my $q2 = $json->decode($r->[1]{body});
is($q2->{Limit}, 2, 'second page: the rest of the limit');
ok((grep { $_->{S} eq '2026-03-01T14:07:00.000000+00:00' }
    values %{ $q2->{ExpressionAttributeValues} }),
   'second page: continues below the last key');

is($out, join('',
    sprintf("%-16s%-22s%s...\n", 'bayko', '2026-03-01 02:05 PM', 'five'),
    sprintf("%-16s%-22s%s...\n", 'andrewbrown', '2026-03-01 02:06 PM',
            'six with a line break and a long tail to'),
    sprintf("%-16s%-22s%s...\n", 'bayko', '2026-03-01 02:07 PM', 'seven'),
    sprintf("%-16s%-22s%s...\n", 'andrewbrown', '2026-03-01 02:08 PM', 'eight'),
    sprintf("%-16s%-22s%s...\n", 'bayko', '2026-03-01 02:09 PM', 'nine')),
   'printed oldest first; control characters blanked; 40 characters');

$s = serve([200, '{"TableNames":["t1","t2"],"LastEvaluatedTableName":"t2"}'],
           [200, '{"TableNames":["t3"]}']);
($rc, $out, $err) = run('--endpoint', $s->{url}, 'list-tables');
$r = requests($s);
is($out, "t1\nt2\nt3\n", 'list-tables follows LastEvaluatedTableName');
is($json->decode($r->[1]{body})->{ExclusiveStartTableName}, 't2',
   'with ExclusiveStartTableName');

# list-conversations by handle: GetItem on the directory, then the Query
$s = serve([200, '{"Item":{"pk":{"S":"USER#HANDLE#bayko"},"sk":{"S":"USER"},'
                . '"user_uuid":{"S":"1c57dab3-621d-431c-b55d-de5cf7274595"}}}'],
           [200, '{"Count":0,"Items":[]}']);
($rc, $out, $err) = run('--endpoint', $s->{url}, 'list-conversations', 'Bayko');
$r = requests($s);
is($rc, 0, 'list-conversations Bayko') or diag($err);
is($r->[0]{headers}{'x-amz-target'}, 'DynamoDB_20120810.GetItem', 'first a GetItem');
my $g = $json->decode($r->[0]{body});
is_deeply([ $g->{Key}{pk}{S}, $g->{Key}{sk}{S}, $g->{ConsistentRead} ? 1 : 0 ],
          [ 'USER#HANDLE#bayko', 'USER', 1 ],
          'of USER#HANDLE#<lower-cased handle>, strongly consistent');
is($json->decode($r->[1]{body})->{ExpressionAttributeValues}{':k'}{S},
   'GRP#1c57dab3-621d-431c-b55d-de5cf7274595', 'then the Query of GRP#<uuid>');

# put-user: the directory read, then one transaction with both items
$s = serve([200, '{"Responses":{"cruddur-messages":[]},"UnprocessedKeys":{}}'],
           [200, '{}']);
($rc, $out, $err) = run('--endpoint', $s->{url}, 'put-user', '--uuid',
                        '99999999-aaaa-4bbb-8ccc-dddddddddddd', '--handle', 'Ivan',
                        '--display-name', 'Ivan "the" I', '--sub',
                        '12345678-aaaa-4bbb-8ccc-dddddddddddd');
$r = requests($s);
is($rc, 0, 'put-user') or diag($err);
is($r->[1]{headers}{'x-amz-target'}, 'DynamoDB_20120810.TransactWriteItems',
   'a TransactWriteItems');
my $tx = $json->decode($r->[1]{body});
like($tx->{ClientRequestToken} // '', qr/^[0-9a-f-]{36}$/, 'with a client token');
is_deeply([ sort map { $_->{Put}{Item}{pk}{S} } @{ $tx->{TransactItems} } ],
          [ 'USER#HANDLE#ivan', 'USER#SUB#12345678-aaaa-4bbb-8ccc-dddddddddddd' ],
          'of the two directory items');
is($tx->{TransactItems}[0]{Put}{Item}{user_display_name}{S}, 'Ivan "the" I',
   'quotes survive the JSON');
ok(!exists $tx->{TransactItems}[0]{Put}{Item}{message_group_uuid},
   'no message_group_uuid on directory items');

done_testing();
