# ddbm_status counts API routes by their name: a location's route, C
# pattern or declared, is counted under its name, and every name is
# listed from the start with 0s, in a stable order: the C patterns first
# (in ngx_http_ddbm_patterns[] order), then the declared routes in the
# order they were declared.  A reload keeps the names and counts of the
# earlier configuration and appends the new names.
#
#   config 1: /health (C pattern health) and /u/HANDLE (a declared route
#     "my_short", user_short's text under another name), nothing else
#     GET /health -> 200; GET /u/bayko twice -> 200; GET /u/nobody -> 404
#   config 2 (reload): /health and /o/HANDLE ("other_short") only
#     GET /o/bayko -> 200
#   another nginx with 30 declared routes: 32 names listed, a warning for
#     the 33rd
# Plain Test::More: one nginx, reloaded once.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use File::Temp qw(tempdir);
use DdbmTest;
use DdbmModule;
use DdbmServer;

my $json = JSON::PP->new->canonical;

ddbm_fresh_table('ddbm_t171');
seed_table();

my $dir = tempdir('ddbm-t171-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my $short = do {
    my $f = "$ENV{TEST_NGINX_DDBM_ROUTES}/user_short.conf";
    open my $fh, '<', $f or die "$f: $!";
    local $/;
    <$fh>;
};
like($short, qr/\bddbm_route user_short GET/, 'the declared user_short');

# user_short's route under another name, in a location of its own
sub short_as {
    my ($name, $prefix) = @_;
    (my $text = $short) =~ s/\bddbm_route user_short\b/ddbm_route $name/;
    return <<"_EOC_";
        location ~ ^/$prefix/(?<handle>[^/]+)\$ {
$text
        }
_EOC_
}

sub write_routes {
    my ($text) = @_;
    open my $fh, '>', "$dir/routes.conf" or die "$dir/routes.conf: $!";
    print $fh $text;
    close $fh or die $!;
}

write_routes(<<"_EOC_" . short_as('my_short', 'u'));
        location = /health {
            ddbm_pattern health;
        }
_EOC_

my $srv = DdbmServer->start(
    workers => 1,
    http_config => "    ddbm_cache zone=t171:1m;\n",
    config => <<"_EOC_");
        include $dir/routes.conf;
        location = /status {
            ddbm_status;
        }
_EOC_

my @c_patterns = qw(health post_message start_conversation);

# the routes as listed: [ name, { 1xx .. 5xx, latency_count } ] in order,
# from the JSON's text (the order of its keys) and from the Prometheus
# text, which must agree
sub routes {
    my ($s) = @_;
    $s //= $srv;
    my $res = $s->request(GET => '/status?format=json');
    my $j = eval { $json->decode($res->{body}) } || {};
    my ($text) = $res->{body} =~ /"routes":\{(.*?\})\}/;
    my @order = ($text // '') =~ /"(\w+)":\{/g;

    my $prom = $s->request(GET => '/status')->{body};
    my (@porder, %seen);
    for ($prom =~ /^ddbm_api_requests_total\{route="([^"]+)"/mg) {
        push @porder, $_ if !$seen{$_}++;
    }
    my %count = $prom =~ /^ddbm_api_requests_total
                          \{route="([^"]+",status="\dxx)"\}\ (\d+)$/mgx;

    return (\@order, \@porder, $j->{routes} || {}, \%count);
}

sub counts {
    my ($r) = @_;
    return [ map { $r->{$_} // 'none' } qw(1xx 2xx 3xx 4xx 5xx latency_count) ];
}

# ---- nothing asked yet: every name listed, 0s --------------------------

my ($order, $porder, $routes, $prom) = routes();
is_deeply($order, [ @c_patterns, 'my_short' ],
          'JSON: the C patterns in their order, then the declared route');
is_deeply($porder, $order, 'Prometheus: the same names, same order');
is_deeply(counts($routes->{my_short}), [0, 0, 0, 0, 0, 0],
          'my_short: listed with 0s before its first request');
is_deeply(counts($routes->{post_message}), [0, 0, 0, 0, 0, 0],
          'post_message: a C pattern no location uses, listed with 0s');

# ---- requests, counted under their route's name -------------------------

my @want = (
    ['/health', 200],
    ['/u/bayko', 200],
    ['/u/bayko', 200],
    ['/u/nobody', 404],
);

for my $w (@want) {
    my ($path, $status) = @$w;
    my $r = $srv->request(GET => $path);
    is($r->{status}, $status, "GET $path: $status") or diag($r->{body});
}

($order, $porder, $routes, $prom) = routes();
is_deeply($order, [ @c_patterns, 'my_short' ], 'the same order after');
is_deeply(counts($routes->{my_short}), [0, 2, 0, 1, 0, 3],
          'my_short: 2 2xx, 1 4xx, 3 timed');
is_deeply(counts($routes->{health}), [0, 1, 0, 0, 0, 1],
          'health: 1 2xx');
ok(!exists $routes->{user_short},
   'user_short: not listed (my_short is not user_short, and no C '
   . 'pattern has the name)');
is($prom->{'my_short",status="2xx'}, 2, 'Prometheus: my_short 2xx = 2');
is($prom->{'my_short",status="4xx'}, 1, 'Prometheus: my_short 4xx = 1');

# ---- a reload: my_short gone, other_short new ---------------------------

write_routes(<<"_EOC_" . short_as('other_short', 'o'));
        location = /health {
            ddbm_pattern health;
        }
_EOC_

ok($srv->reload, 'reload: new workers');

is($srv->request(GET => '/o/bayko')->{status}, 200, 'GET /o/bayko: 200');

($order, $porder, $routes, $prom) = routes();
is_deeply($order, [ @c_patterns, 'my_short', 'other_short' ],
          'after the reload: the earlier names kept, the new one appended');
is_deeply($porder, $order, 'Prometheus: the same names, same order');
is_deeply(counts($routes->{my_short}), [0, 2, 0, 1, 0, 3],
          'my_short: its counts kept over the reload');
is_deeply(counts($routes->{other_short}), [0, 1, 0, 0, 0, 1],
          'other_short: 1 2xx');
is_deeply(counts($routes->{health}), [0, 1, 0, 0, 0, 1],
          'health: its count kept');

unlike($srv->error_log, qr/not counted/, 'no route left uncounted');

$srv->stop;

# ---- at most 32 routes: the 33rd name is refused with a warning --------

# 3 C patterns + 30 declared routes: r29 is the 33rd
my $many = DdbmServer->start(
    http_config => "    ddbm_cache zone=t171b:1m;\n",
    config => join('', map { short_as(sprintf('r%02d', $_), "m$_") } 0 .. 29)
              . <<"_EOC_");
        location = /status {
            ddbm_status;
        }
_EOC_

($order) = routes($many);
is_deeply($order, [ @c_patterns, map { sprintf 'r%02d', $_ } 0 .. 28 ],
          '32 routes listed, r29 not');
my $startup = do {
    open my $fh, '<', "$many->{dir}/logs/stdout.log" or die $!;
    local $/;
    <$fh> . $many->error_log;
};
like($startup, qr/at most 32 routes.*route "r29" is not counted/,
     'the 33rd route: a warning says it is not counted');
is($many->request(GET => '/m29/bayko')->{status}, 200,
   'GET /m29/bayko: answered all the same');
$many->stop;

done_testing();
