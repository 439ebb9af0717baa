# ddbm_status and the access log variables against a scripted scenario:
# every counter named below must hold exactly what the scenario did, the
# exposition must parse with the Prometheus client's own parser (Debian's
# python3-prometheus-client), and ?format=json must say the same.
#
#   GET /api/message_groups: the caller's GetItem throttled twice, then
#     answered; the Query answered           -> 200
#   GET /api/message_groups without identity -> 401
#   GET /health, DynamoDB answering 500, no retries -> 503
#   GET /api/users/@bayko/short twice (ddbm_cache): one miss, one hit;
#     the zone holds one positive entry, nothing freed
#   GET /jwt (ddbm_jwt on) without a token, then with a malformed one ->
#     401 twice
# Plain Test::More: one nginx over many requests.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use File::Temp qw(tempdir);
use DdbmTest;
use DdbmModule;
use DdbmFake;
use DdbmServer;

my $python = '/usr/bin/python3';
plan skip_all => "Debian's python3-prometheus-client is needed "
               . '(scripts/install-deps.sh installs it)'
    if system("$python -c 'import prometheus_client.parser' 2>/dev/null");

my $json = JSON::PP->new->canonical;
my %SUB = %DdbmModule::SUB;

ddbm_fresh_table('ddbm_t170');
seed_table();
DdbmFake::start();

my $dir = tempdir('ddbm-t170-XXXXXX', TMPDIR => 1, CLEANUP => 1);
ddbm_cli('dev-keys', '--dir', "$dir/keys");

my $table = $ENV{TEST_NGINX_DDB_TABLE};
my $fake = DdbmFake::location('64k');
$fake =~ s/\$TEST_NGINX_SCRIPT_PORT/$ENV{TEST_NGINX_SCRIPT_PORT}/g;

my $srv = DdbmServer->start(
    http_config => <<"_EOC_",
    log_format ddbm '\$uri \$status calls=\$ddbm_calls retries=\$ddbm_retries '
                    'error=\$ddbm_error cache=\$ddbm_cache '
                    'time=\$ddbm_ddb_time ids=\$ddbm_request_ids';
    ddbm_cache zone=t170:1m;
    ddbm_health_interval 1h;
_EOC_
    config => <<"_EOC_");
$fake
        access_log $dir/access.log ddbm;

        location = /api/message_groups {
            include \$TEST_NGINX_DDBM_ROUTES/list_conversations.conf;
            ddbm_backend /_fake/all/throttle,throttle,real,real/m1;
            ddbm_retries 3 2ms;
            # no cache: its status refresh would take one of the actions
            ddbm_cache off;
        }
        location = /health {
            ddbm_pattern health;
            ddbm_backend /_fake/DescribeTable/e500/m2;
            ddbm_retries 0;
        }
        location ~ ^/api/users/@(?<handle>[^/]+)/short\$ {
            include \$TEST_NGINX_DDBM_ROUTES/user_short.conf;
        }
        location = /jwt {
            ddbm_jwt on;
            ddbm_jwt_jwks $dir/keys/jwks.json;
            ddbm_jwt_issuer https://example.invalid/pool;
            ddbm_jwt_client_id client;
            empty_gif;
        }
        location = /status {
            ddbm_status;
            access_log off;
        }
_EOC_

my @want = (
    ['/api/message_groups', { 'X-Test-Sub' => $SUB{andrewbrown} }, 200],
    ['/api/message_groups', {}, 401],
    ['/health', {}, 503],
    ['/api/users/@bayko/short', {}, 200],
    ['/api/users/@bayko/short', {}, 200],
    ['/jwt', {}, 401],
    ['/jwt', { Authorization => 'Bearer not.a.token' }, 401],
);

for my $w (@want) {
    my ($path, $h, $status) = @$w;
    my $r = $srv->request(GET => $path, $h);
    is($r->{status}, $status, "GET $path: $status") or diag($r->{body});
}

# ---- the exposition, parsed by the Prometheus client ---------------------

my $res = $srv->request(GET => '/status');
is($res->{status}, 200, 'GET /status: 200');
like($res->{headers}{'content-type'} // '', qr{^text/plain; version=0\.0\.4},
     'the text exposition format, version 0.0.4');

open my $fh, '>', "$dir/status.txt" or die $!;
print $fh $res->{body};
close $fh;

# every sample as "name{sorted labels} value", by the client's parser
my $parsed = `$python - '$dir/status.txt' 2>&1 <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
for family in text_string_to_metric_families(text):
    for s in family.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %s" % (s.name, labels, repr(float(s.value))))
PY
`;
is($?, 0, 'the exposition parses') or diag($parsed);

my %sample;
for (split /\n/, $parsed) {
    my ($k, $v) = /^(.*) (\S+)$/ or next;
    $sample{$k} = $v;
}

sub sample_is {
    my ($key, $value) = @_;
    is($sample{$key}, sprintf('%.1f', $value), "$key = $value");
}

my $op = "table=$table";
sample_is("ddbm_dynamodb_attempts_total{operation=GetItem,$op}", 4);
sample_is("ddbm_dynamodb_throttles_total{operation=GetItem,$op}", 2);
sample_is("ddbm_dynamodb_retries_total{operation=GetItem,$op}", 2);
sample_is("ddbm_dynamodb_errors_total{operation=GetItem,$op,"
          . "type=ThrottlingException}", 2);
sample_is("ddbm_dynamodb_attempts_total{operation=Query,$op}", 1);
# /health's own, and the cache's one refresh of the table's status
sample_is("ddbm_dynamodb_attempts_total{operation=DescribeTable,$op}", 2);
sample_is("ddbm_dynamodb_errors_total{operation=DescribeTable,$op,"
          . "type=InternalServerError}", 1);
sample_is("ddbm_dynamodb_retries_total{operation=DescribeTable,$op}", 0);
sample_is("ddbm_dynamodb_attempt_duration_seconds_count{operation=GetItem,"
          . "$op}", 4);
sample_is("ddbm_dynamodb_attempt_duration_seconds_bucket{le=+Inf,"
          . "operation=Query,$op}", 1);
sample_is('ddbm_api_requests_total{route=list_conversations,status=2xx}', 1);
sample_is('ddbm_api_requests_total{route=list_conversations,status=4xx}', 1);
sample_is('ddbm_api_requests_total{route=health,status=5xx}', 1);
sample_is('ddbm_api_requests_total{route=user_short,status=2xx}', 2);
sample_is('ddbm_api_request_duration_seconds_count{route=user_short}', 2);
sample_is('ddbm_cache_lookups_total{result=hit}', 1);
sample_is('ddbm_cache_lookups_total{result=miss}', 1);
sample_is('ddbm_cache_entries{list=positive,zone=t170}', 1);
sample_is('ddbm_cache_entries{list=negative,zone=t170}', 0);
sample_is('ddbm_cache_bytes{list=negative,zone=t170}', 0);
ok(($sample{'ddbm_cache_bytes{list=positive,zone=t170}'} // 0) > 0,
   'ddbm_cache_bytes{list=positive,zone=t170} > 0');
sample_is('ddbm_cache_size_bytes{zone=t170}', 1024 * 1024);
for my $list (qw(positive negative)) {
    for my $reason (qw(expired evicted generation replaced deleted)) {
        sample_is("ddbm_cache_freed_total{list=$list,reason=$reason,"
                  . 'zone=t170}', 0);
    }
}
sample_is('ddbm_credentials_info{source=static}', 1);
sample_is('ddbm_jwt_refusals_total{reason=no token}', 1);
sample_is('ddbm_jwt_refusals_total{reason=malformed}', 1);

# ---- the same counts as JSON --------------------------------------------

$res = $srv->request(GET => '/status?format=json');
my $j = eval { $json->decode($res->{body}) };
ok($j, '?format=json: JSON') or diag($res->{body});
my ($get) = grep { $_->{operation} eq 'GetItem' && $_->{table} eq $table }
            @{ $j->{dynamodb} || [] };
is_deeply([ @{ $get || {} }{qw(attempts throttles retries)},
            $get && $get->{errors}{ThrottlingException} ],
          [4, 2, 2, 2], 'JSON: GetItem attempts, throttles, retries, errors');
is($j->{routes}{health}{'5xx'}, 1, 'JSON: health 5xx');
is_deeply($j->{cache}, { hits => 1, misses => 1 }, 'JSON: the cache');
my $zj = $j->{cache_zones}{t170} || {};
is_deeply([ $zj->{size}, $zj->{positive}{entries},
            $zj->{positive}{bytes}, $zj->{negative}{entries},
            $zj->{positive}{freed}{expired} ],
          [ 1024 * 1024, 1,
            $sample{'ddbm_cache_bytes{list=positive,zone=t170}'} + 0, 0,
            0 ],
          'JSON: the cache zone, as the text says');
is($j->{jwt_refusals}{malformed}, 1, 'JSON: token refusals');

# ---- the access log ---------------------------------------------------

$srv->stop;
open $fh, '<', "$dir/access.log" or die "$dir/access.log: $!";
my @log = <$fh>;
close $fh;

like($log[0], qr{^/api/message_groups 200 calls=4 retries=2 error=- },
     'access log: calls and retries of the throttled request');
like($log[0], qr/ ids=[0-9a-zA-Z-]+,[0-9a-zA-Z-]+$/,
     "access log: DynamoDB Local's two request ids");
like($log[0], qr/ time=(\d+) /, 'access log: time spent on DynamoDB');
like($log[1], qr{^/api/message_groups 401 calls=0 retries=0 error=- },
     'access log: the 401 made no call');
like($log[2], qr{^/health 503 calls=1 retries=0 error=dynamodb_unavailable },
     'access log: the error code answered');
like($log[3], qr{ cache=MISS }, 'access log: the first lookup missed');
like($log[4], qr{^/api/users/\@bayko/short 200 calls=0 .* cache=HIT },
     'access log: the second hit');

# ---- full jitter -------------------------------------------------------

# Ten throttled requests, three retries each, windows of 40, 80 and 160
# ms: with equal jitter no pause is below 20, 40 and 80 ms; with full
# jitter each is, half the time (all thirty above: odds of one in a
# billion).  Looked at once all thirty are in the log.
my $jitter = DdbmServer->start(config => <<"_EOC_");
$fake
        location ~ ^/throttled/(?<handle>.+)\$ {
            include \$TEST_NGINX_DDBM_ROUTES/user_short.conf;
            ddbm_backend /_fake/GetItem/throttle/m3;
            ddbm_retries 3 40ms;
        }
_EOC_

my $n503 = 0;
for (1 .. 10) {
    $n503++ if $jitter->request(GET => '/throttled/bayko')->{status} == 503;
}
is($n503, 10, 'ten throttled requests: 503 each');

my @pauses = $jitter->error_log =~ /retry (\d) in (\d+)ms/g;
my ($low, $all) = (0, 0);
while (my ($n, $ms) = splice @pauses, 0, 2) {
    $all++;
    $low++ if $ms < 20 * 2 ** ($n - 1);
}
is($all, 30, 'thirty pauses logged');
ok($low > 0, "full jitter: $low of $all pauses below half their window");

done_testing();
