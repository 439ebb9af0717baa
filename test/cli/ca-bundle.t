#!/usr/bin/env perl
#
# AWS_CA_BUNDLE in the credential chain's https requests, as the AWS SDKs
# honour it: container credentials from an https
# AWS_CONTAINER_CREDENTIALS_FULL_URI, and STS AssumeRoleWithWebIdentity at
# an https AWS_ENDPOINT_URL_STS.  nginx serves both over TLS with a
# certificate from a throwaway CA this test makes with openssl, and a fake
# DynamoDB over http that logs who signed.  With the CA in AWS_CA_BUNDLE
# `ddbm list-tables` gets the keys and signs with them; without it, with
# it empty, with another CA in it, or with a missing file, it exits 1 with
# the certificate error and the CA bundle it used, before any DynamoDB
# request.
#
#   DDBM_CLI=build/ddbm prove test/cli/ca-bundle.t
#
# DDBM_CLI is required, and so are nginx (TEST_NGINX_BINARY, default
# /usr/sbin/nginx, else nginx on PATH) and openssl: without them the test
# fails, it does not skip.  The nginx it starts is stopped at exit, on
# failure and on INT/TERM/HUP.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin ();
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep);
use lib "$FindBin::Bin/../../t/lib";
use DdbmTest qw(ddbm_free_port slurp spew sh);

my $cli   = $ENV{DDBM_CLI};
my $nginx = $ENV{TEST_NGINX_BINARY}
            || (-x '/usr/sbin/nginx' ? '/usr/sbin/nginx' : 'nginx');

if (!defined $cli || !-x $cli) {
    fail('DDBM_CLI names the ddbm binary (e.g. build/ddbm)');
    done_testing();
    exit 1;
}

if (system('openssl version >/dev/null 2>&1') != 0
    || system("\Q$nginx\E -v >/dev/null 2>&1") != 0)
{
    fail("openssl and nginx ($nginx) are installed");
    done_testing();
    exit 1;
}

my $dir = tempdir('ddbm-ca-bundle-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($nginx_pid, $cli_pid);

sub stop_nginx {
    my $pid = $nginx_pid or return;
    undef $nginx_pid;
    kill 'QUIT', $pid;
    for (1 .. 100) {
        return if waitpid($pid, POSIX::WNOHANG()) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

END { stop_nginx() }
for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub {
        kill 'KILL', $cli_pid if $cli_pid;
        stop_nginx();
        exit 1;
    };
}

# the machine's AWS setup and DDBM_ENDPOINT/DDBM_TABLE must not leak in
# (DDBM_TEST_RUN, which tags this run's processes, stays), nor OpenSSL's
# own CA overrides
delete $ENV{$_} for grep { /^AWS_/ } keys %ENV;
delete @ENV{qw(DDBM_ENDPOINT DDBM_TABLE SSL_CERT_FILE SSL_CERT_DIR)};
$ENV{AWS_EC2_METADATA_DISABLED} = 'true';
$ENV{HOME} = $dir;


sub lines {
    my ($path) = @_;
    return [ grep { length } split /\n/, slurp($path) ];
}


# ---- certificates --------------------------------------------------------

# a root CA, and a server certificate for 127.0.0.1 it issues; "other" is
# a CA that issued nothing here
my $ca = "$dir/ca";
mkdir $ca or die "$ca: $!";
my $EC = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

for my $name (qw(root other)) {
    sh("openssl req -x509 $EC -keyout $ca/$name.key -out $ca/$name.crt "
       . "-days 2 -subj '/O=ddbm test/CN=ddbm ca-bundle $name' "
       . "-addext basicConstraints=critical,CA:TRUE "
       . "-addext keyUsage=critical,keyCertSign,cRLSign");
}

spew("$ca/server.ext", "basicConstraints=CA:FALSE\n"
                     . "keyUsage=critical,digitalSignature\n"
                     . "extendedKeyUsage=serverAuth\n"
                     . "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
sh("openssl req -new $EC -keyout $ca/server.key -out $ca/server.csr "
   . "-subj '/CN=127.0.0.1'");
sh("openssl x509 -req -in $ca/server.csr -CA $ca/root.crt "
   . "-CAkey $ca/root.key -set_serial " . (10 + int(rand(1e6)))
   . " -days 2 -extfile $ca/server.ext -out $ca/server.crt");

like(sh("openssl verify -CAfile $ca/root.crt $ca/server.crt"), qr/: OK/,
     'the server certificate verifies against the test CA');


# ---- nginx: the https credential endpoints and a fake DynamoDB ----------

my $tls_port = ddbm_free_port();
my $ddb_port;
do { $ddb_port = ddbm_free_port() } while $ddb_port == $tls_port;

my $creds_json = '{"AccessKeyId":"ASIACABUNDLECONTAINER",'
               . '"SecretAccessKey":"ca-bundle-container-secret",'
               . '"Token":"ca-bundle-container-token",'
               . '"Expiration":"2099-01-01T00:00:00Z"}';
my $sts_xml = '<AssumeRoleWithWebIdentityResponse '
            . 'xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            . '<AssumeRoleWithWebIdentityResult><Credentials>'
            . '<SessionToken>ca-bundle-sts-token</SessionToken>'
            . '<SecretAccessKey>ca-bundle-sts-secret</SecretAccessKey>'
            . '<Expiration>2099-01-01T00:00:00Z</Expiration>'
            . '<AccessKeyId>ASIACABUNDLESTS</AccessKeyId>'
            . '</Credentials></AssumeRoleWithWebIdentityResult>'
            . '</AssumeRoleWithWebIdentityResponse>';

my $ng = "$dir/nginx";
mkdir $ng or die "$ng: $!";
spew("$ng/nginx.conf", <<"_EOC_");
daemon off;
master_process off;
pid $ng/nginx.pid;
error_log $ng/error.log info;
events { worker_connections 64; }
http {
    client_body_temp_path $ng/body;
    proxy_temp_path $ng/proxy;
    fastcgi_temp_path $ng/fastcgi;
    uwsgi_temp_path $ng/uwsgi;
    scgi_temp_path $ng/scgi;
    log_format t '\$request_method \$uri [\$http_authorization]';
    server {
        listen 127.0.0.1:$tls_port ssl;
        ssl_certificate     $ca/server.crt;
        ssl_certificate_key $ca/server.key;
        access_log $ng/tls.log t;
        location = /v1/credentials {
            default_type application/json;
            return 200 '$creds_json';
        }
        location = /sts/ {
            default_type text/xml;
            return 200 '$sts_xml';
        }
    }
    server {
        listen 127.0.0.1:$ddb_port;
        access_log $ng/ddb.log t;
        location / {
            default_type application/x-amz-json-1.0;
            return 200 '{"TableNames":["ca-bundle-ok"]}';
        }
    }
}
_EOC_

$nginx_pid = fork() // die "fork: $!";
if ($nginx_pid == 0) {
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', "$ng/stdout.log";
    open STDERR, '>&', \*STDOUT;
    my @cmd = ($nginx, '-p', "$ng/", '-c', "$ng/nginx.conf",
               '-e', "$ng/error.log");
    { no warnings 'exec'; exec { $cmd[0] } @cmd; }
    POSIX::_exit(127);
}

my $up = 0;
for (1 .. 200) {
    if (waitpid($nginx_pid, POSIX::WNOHANG()) == $nginx_pid) {
        undef $nginx_pid;
        last;
    }
    my $a = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$tls_port");
    my $b = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ddb_port");
    if ($a && $b) {
        $up = 1;
        last;
    }
    sleep 0.05;
}
ok($up, 'nginx listens (https endpoints, fake DynamoDB)')
    or BAIL_OUT("nginx did not start:\n"
                . slurp("$ng/stdout.log") . slurp("$ng/error.log"));


# ---- the CLI -------------------------------------------------------------

sub run {
    my (%env) = @_;

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        undef $nginx_pid;
        $ENV{$_} = $env{$_} for keys %env;
        open STDIN,  '<', '/dev/null' or POSIX::_exit(126);
        open STDOUT, '>', "$dir/stdout" or POSIX::_exit(126);
        open STDERR, '>', "$dir/stderr" or POSIX::_exit(126);
        my @cmd = ($cli, '--endpoint', "http://127.0.0.1:$ddb_port",
                   '--region', 'eu-west-1', 'list-tables');
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        POSIX::_exit(127);
    }
    $cli_pid = $pid;
    waitpid $pid, 0;
    undef $cli_pid;

    return ($? >> 8, slurp("$dir/stdout"), slurp("$dir/stderr"));
}

my $secrets = qr/ca-bundle-(container|sts)-(secret|token)|container-auth/;
my ($rc, $out, $err, $n);

my %container = (
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "https://127.0.0.1:$tls_port/v1/credentials",
    AWS_CONTAINER_AUTHORIZATION_TOKEN => 'container-auth',
);

($rc, $out, $err) = run(%container, AWS_CA_BUNDLE => "$ca/root.crt");
is($rc, 0, 'container credentials over https with AWS_CA_BUNDLE')
    or diag($err);
is($out, "ca-bundle-ok\n", 'and the DynamoDB answer is printed');
is_deeply(lines("$ng/tls.log"), ['GET /v1/credentials [container-auth]'],
          'one GET of the FULL_URI, with the authorization token');
like(lines("$ng/ddb.log")->[0] // '',
     qr{^POST / \[AWS4-HMAC-SHA256 Credential=ASIACABUNDLECONTAINER/},
     'the container key signs the DynamoDB request');
unlike($out . $err, $secrets, 'no secret shown');

# without the test CA: the system's bundle does not know it
my @refused = (
    [ 'without AWS_CA_BUNDLE', {}, qr/\(CA bundle: the system's\)/ ],
    [ 'with AWS_CA_BUNDLE empty (unset, as the SDKs)',
      { AWS_CA_BUNDLE => '' }, qr/\(CA bundle: the system's\)/ ],
    [ 'with another CA in AWS_CA_BUNDLE',
      { AWS_CA_BUNDLE => "$ca/other.crt" },
      qr/\(CA bundle: \Q$ca\E\/other\.crt\)/ ],
);

for my $case (@refused) {
    my ($what, $env, $names) = @$case;
    $n = @{ lines("$ng/ddb.log") };
    ($rc, $out, $err) = run(%container, %$env);
    is($rc, 1, "container over https $what: exit 1");
    like($err, qr/^ddbm: no AWS credentials: container: .*certificate/m,
         '  a certificate error, from the container source') or diag($err);
    like($err, $names, '  naming the CA bundle used');
    is(scalar @{ lines("$ng/ddb.log") }, $n, '  no DynamoDB request');
    unlike($out . $err, $secrets, '  no secret shown');
}

$n = @{ lines("$ng/ddb.log") };
($rc, $out, $err) = run(%container, AWS_CA_BUNDLE => "$dir/missing.pem");
is($rc, 1, 'AWS_CA_BUNDLE naming a missing file: exit 1');
like($err, qr/^ddbm: no AWS credentials: container: .*\Q$dir\E\/missing\.pem/m,
     'the error names the file') or diag($err);
like($err, qr/certificate|CA/, 'and says it is about certificates');
is(scalar @{ lines("$ng/ddb.log") }, $n, 'no DynamoDB request');

# STS AssumeRoleWithWebIdentity goes through the same exchange
spew("$dir/web-identity-token", "eyJhbGciOiJSUzI1NiJ9.ca-bundle.test\n");
my %sts = (
    AWS_WEB_IDENTITY_TOKEN_FILE => "$dir/web-identity-token",
    AWS_ROLE_ARN => 'arn:aws:iam::123456789012:role/ddbm',
    AWS_ENDPOINT_URL_STS => "https://127.0.0.1:$tls_port/sts/",
);

$n = @{ lines("$ng/tls.log") };
($rc, $out, $err) = run(%sts, AWS_CA_BUNDLE => "$ca/root.crt");
is($rc, 0, 'web identity: STS over https with AWS_CA_BUNDLE') or diag($err);
is(lines("$ng/tls.log")->[$n] // '', 'POST /sts/ [-]', 'one POST to STS');
like(lines("$ng/ddb.log")->[-1] // '',
     qr{^POST / \[AWS4-HMAC-SHA256 Credential=ASIACABUNDLESTS/},
     'the STS key signs the DynamoDB request');
unlike($out . $err, $secrets, 'no secret shown');

$n = @{ lines("$ng/ddb.log") };
($rc, $out, $err) = run(%sts);
is($rc, 1, 'web identity: STS over https without AWS_CA_BUNDLE: exit 1');
like($err, qr/^ddbm: no AWS credentials: web identity: STS: .*certificate/m,
     'a certificate error, from STS') or diag($err);
like($err, qr/\(CA bundle: the system's\)/, 'naming the CA bundle used');
is(scalar @{ lines("$ng/ddb.log") }, $n, 'no DynamoDB request');

stop_nginx();

done_testing();
