# Key rotation through a reload, and `nginx -t` on bad key files: plain
# Test::More (the Test::Nginx runners start and stop nginx per block and
# cannot send it SIGHUP).  Starts its own nginx (master process on), so it
# needs TEST_NGINX_BINARY and TEST_NGINX_MODULE (scripts/test.sh sets
# them) and DDBM_CLI for the keys and tokens; no DynamoDB.

use strict;
use warnings;

use Test::More;
use DdbmTest;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use MIME::Base64 ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $nginx  = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $module = $ENV{TEST_NGINX_MODULE};
my $cli    = $ENV{DDBM_CLI};

plan skip_all => 'TEST_NGINX_MODULE and DDBM_CLI are needed (scripts/test.sh)'
    if !$module || !-f $module || !$cli || !-x $cli;

my $dir = tempdir('ddbm-jwt-reload-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $ISS = 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_DevPool1';
my $SUB = '71c568d1-29bb-4ae1-92c5-057d12db82cb';
my $master;

END {
    stop_nginx() if $master;
}

for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub { stop_nginx() if $master; exit 1 };
}

sub run {
    my @cmd = @_;
    my $out = `@{[ join ' ', map { quotemeta } @cmd ]} 2>&1`;
    return ($? >> 8, $out);
}

sub slurp { open my $f, '<', $_[0] or die "$_[0]: $!"; local $/; <$f> }

# atomically, as a deployment would replace it
sub spew {
    my ($path, $text) = @_;
    open my $f, '>', "$path.tmp" or die "$path.tmp: $!";
    print $f $text;
    close $f or die $!;
    rename "$path.tmp", $path or die "rename $path: $!";
}

for my $k (1, 2) {
    my ($rc, $out) = run($cli, 'dev-keys', '--dir', "$dir/k$k", '--kid',
                         "key-$k");
    die "dev-keys failed: $out" if $rc;
}

my ($rc, $out) = run($cli, 'dev-keys', '--dir', "$dir/k1");
isnt($rc, 0, 'dev-keys refuses to overwrite a key pair without --force');
like($out, qr/already holds a key pair; --force/, '... and says so');
is((stat "$dir/k1/private.pem")[2] & 07777, 0600, 'private.pem is 0600');

sub mint {
    my ($k, @more) = @_;
    my ($rc, $t) = run($cli, 'mint-token', '--dir', "$dir/k$k", '--sub', $SUB,
                       @more);
    die "mint-token failed: $t" if $rc;
    $t =~ s/\s+\z//;
    return $t;
}

my $t1 = mint(1);
my $t2 = mint(2);

my $port = ddbm_free_port();
my $jwks = "$dir/jwks.json";
spew($jwks, slurp("$dir/k1/jwks.json"));

sub conf {
    my ($jwks_path) = @_;
    my $user = $> == 0 ? 'user root;' : '';
    return <<"_EOC_";
load_module $module;
$user
worker_processes 1;
daemon on;
master_process on;
error_log $dir/error.log info;
pid $dir/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;

    ddbm_jwt_jwks       $jwks_path;
    ddbm_jwt_issuer     $ISS;
    ddbm_jwt_client_id  ddbmdevclient;

    server {
        listen 127.0.0.1:$port;
        location = /jwt {
            ddbm_jwt on;
            add_header X-Sub \$ddbm_jwt_sub always;
            empty_gif;
        }
        location = /short {
            ddbm_jwt on;
            ddbm_jwt_leeway 0;
            empty_gif;
        }
    }
}
_EOC_
}

sub write_conf {
    my ($name, $jwks_path) = @_;
    open my $f, '>', "$dir/$name" or die $!;
    print $f conf($jwks_path);
    close $f;
    return "$dir/$name";
}

sub nginx_t {
    my ($conf) = @_;
    return run($nginx, '-t', '-p', "$dir/", '-c', $conf, '-e',
               "$dir/error.log");
}

# ---- nginx -t on bad key files -----------------------------------------

my $good = write_conf('nginx.conf', $jwks);
($rc, $out) = nginx_t($good);
is($rc, 0, 'nginx -t passes with a good JWKS') or diag($out);

my %bad = (
    missing   => ["$dir/nope.json", undef,
                  qr/ddbm_jwt_jwks: cannot open "\Q$dir\E\/nope\.json" \(2: No such file/],
    directory => ["$dir/k1", undef,
                  qr/ddbm_jwt_jwks: cannot read "\Q$dir\E\/k1"/],
    empty     => ["$dir/empty.json", '',
                  qr/ddbm_jwt_jwks: "\Q$dir\E\/empty\.json" is empty/],
    garbage   => ["$dir/garbage.json", "<html>not json</html>\n",
                  qr/ddbm_jwt_jwks: "\Q$dir\E\/garbage\.json" is not a usable JWKS: not valid JSON/],
    no_rsa    => ["$dir/ec.json",
                  '{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"AA","y":"AA"}]}',
                  qr/"\Q$dir\E\/ec\.json" is not a usable JWKS: no RSA signing key/],
    broken    => ["$dir/broken.json",
                  '{"keys":[{"kty":"RSA","kid":"b","n":"not base64!","e":"AQAB"}]}',
                  qr/"\Q$dir\E\/broken\.json" is not a usable JWKS: RSA key "b": "n" or "e" is not unpadded base64url/],
);

for my $case (sort keys %bad) {
    my ($path, $content, $re) = @{ $bad{$case} };
    spew($path, $content) if defined $content;
    ($rc, $out) = nginx_t(write_conf("bad-$case.conf", $path));
    isnt($rc, 0, "nginx -t fails on a JWKS file that is $case");
    like($out, $re, "... with a message naming the file ($case)");
}

# ---- rotation by reload ----------------------------------------------------

my $http = HTTP::Tiny->new(timeout => 5);

sub status {
    my ($token, $path) = @_;
    $path //= '/jwt';
    my $res = $http->get("http://127.0.0.1:$port$path",
                         { headers => { Authorization => "Bearer $token" } });
    return $res->{status};
}

sub master_pid {
    open my $f, '<', "$dir/nginx.pid" or return undef;
    my $pid = <$f>;
    close $f;
    return $pid && $pid =~ /^(\d+)/ ? $1 : undef;
}

sub stop_nginx {
    my $pid = $master;
    undef $master;
    return if !$pid || !kill(0, $pid);
    kill 'QUIT', $pid;
    my $deadline = time + 5;
    sleep 0.05 while kill(0, $pid) && time < $deadline;
    kill 'KILL', $pid if kill(0, $pid);
}

# the workers started by the last reload answer: wait for what we expect
sub eventually {
    my ($token, $want) = @_;
    my $deadline = time + 10;
    my $got;
    while (time < $deadline) {
        $got = status($token);
        return $got if $got == $want;
        sleep 0.1;
    }
    return $got;
}

($rc, $out) = run($nginx, '-p', "$dir/", '-c', $good, '-e',
                  "$dir/error.log");
is($rc, 0, 'nginx starts') or diag($out);
my $deadline = time + 5;
sleep 0.05 until ($master = master_pid()) || time > $deadline;
ok($master, 'nginx master running') or BAIL_OUT('nginx did not start');

is(eventually($t1, 200), 200, 'before the rotation: key 1 accepted');
is(status($t2), 401, 'before the rotation: key 2 unknown');

# a cached verification never outlives "exp" (no leeway on /short)
my $short = mint(1, '--exp', '+3');
my ($payload) = $short =~ /^[^.]+\.([^.]+)\./;
my ($exp) = MIME::Base64::decode_base64url($payload) =~ /"exp":(\d+)/;
is(status($short, '/short'), 200, 'a token about to expire: accepted');
is(status($short, '/short'), 200, '... and again, from the cache');
sleep 0.1 while time < $exp + 0.2;
is(status($short, '/short'), 401, 'past its exp: refused, cached or not');

# the pool publishes both keys for a while, then only the new one
spew($jwks, slurp("$dir/jwks.json") =~ s/\]\}\s*\z//r . ','
            . (slurp("$dir/k2/jwks.json") =~ s/^\{"keys":\[//r));
kill 'HUP', $master;
is(eventually($t2, 200), 200, 'reload with both keys: key 2 accepted');
is(status($t1), 200, 'reload with both keys: key 1 still accepted');

spew($jwks, slurp("$dir/k2/jwks.json"));
kill 'HUP', $master;
is(eventually($t1, 401), 401, 'reload with key 2 only: key 1 refused');
is(status($t2), 200, 'reload with key 2 only: key 2 accepted');

# a broken file on reload: nginx keeps the configuration it runs
spew($jwks, "{\"keys\":[\n");
kill 'HUP', $master;
sleep 1;
is(status($t2), 200, 'reload with a broken JWKS: the old keys stay');
is(status($t1), 401, 'reload with a broken JWKS: still no key 1');

my $log = slurp("$dir/error.log");
like($log, qr/ddbm_jwt: token refused: expired \(exp \d+ s ago\)/,
     'the log says the short-lived token expired');
like($log, qr/ddbm_jwt: token refused: unknown kid \(kid "key-1"\)/,
     'the log says the old key is unknown');
like($log, qr/\[emerg\].*ddbm_jwt_jwks: "\Q$jwks\E" is not a usable JWKS/,
     'the log says why the reload was refused');
for my $part (grep { length >= 8 } map { split /\./ } $t1, $t2) {
    unlike($log, qr/\Q$part\E/, 'no part of a token is logged') or last;
}

stop_nginx();
done_testing();
