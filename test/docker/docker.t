# docker/ cannot be run here (no Docker engine): check offline what can
# be checked.  The image pins one NGINX version and the SHA-256 of its
# source tarball (checked before extraction), and builds the module with
# --with-compat --add-dynamic-module; everything it copies exists; the
# compose file runs amazon/dynamodb-local (pinned, data in a volume) as the
# reference's does; the configuration the image renders from
# nginx.conf.example points at the compose service and passes `nginx -t`
# with the module built here.  The image holds no token key: its
# entrypoint (run here with sh and bash, in a temporary directory) refuses
# to start NGINX without a mounted JWKS unless development keys are asked
# for in so many words.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use Cwd qw(abs_path);

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or die "$f: $!";
    local $/;
    return <$fh>;
}

my $df = slurp('docker/Dockerfile');

my ($version) = $df =~ /^ARG NGINX_VERSION=(\d+\.\d+\.\d+)$/m;
ok($version, "the NGINX version is pinned ($version)");
my @from = $df =~ /^FROM (\S+)/mg;
is_deeply(\@from, [ 'nginx:${NGINX_VERSION}', 'nginx:${NGINX_VERSION}' ],
          'build and runtime stages start from the same pinned image');
like($df, qr{nginx-\$\{NGINX_VERSION\}\.tar\.gz},
     'the sources are of the same version');
like($df, qr{\./configure --with-compat --add-dynamic-module=/usr/src/ddbm},
     'the module is built with --with-compat --add-dynamic-module');
like($df, qr{\./configure [^\n]*\\\n\s+--with-threads\b|\./configure [^\n]*--with-threads\b},
     '... and --with-threads, which ddbm_credentials auto needs');
like($df, qr{make modules}, 'only the modules are built');
like($df, qr{libjansson4 libyajl2}, 'the runtime has the libraries');

my @copies = $df =~ /^COPY (?!--from)(.+?) \S+$/mg;
my @sources = map { split ' ' } @copies;
ok(@sources >= 5, 'the build context copies: ' . join(' ', @sources));
ok(-e $_, "COPY source $_ exists") for @sources;

my $compose = slurp('docker/compose.yaml');
like($compose, qr{image: "amazon/dynamodb-local:\d+\.\d+\.\d+"},
     'compose pins amazon/dynamodb-local');
like($compose, qr{-sharedDb -dbPath \./data},
     'DynamoDB Local keeps its data on disk, shared');
like($compose, qr{"\./dynamodb:/home/dynamodblocal/data"},
     'in a volume, as the reference does');
like($compose, qr{dockerfile: docker/Dockerfile}, 'compose builds our image');
like($compose, qr{condition: service_completed_successfully},
     'NGINX starts after the schema is loaded');
unlike($compose, qr/\t/, 'no tabs in YAML');
for my $var (qw(AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
                AWS_REGION AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
                AWS_CONTAINER_CREDENTIALS_RELATIVE_URI))
{
    like($compose, qr/^\s+$var: \$\{$var:-\}$/m,
         "compose passes $var through from the host");
}

# the source tarball is checked against a pinned SHA-256 before anything
# reads it, in the same RUN (a mismatch fails the build)
my ($sha) = $df =~ /^ARG NGINX_SHA256=([0-9a-f]{64})$/m;
ok($sha, 'the tarball\'s SHA-256 is pinned');
like($df, qr/^FROM nginx:\$\{NGINX_VERSION\} AS build\n(?:ARG [^\n]*\n)*ARG NGINX_SHA256\n/m,
     '... and reaches the build stage');
my ($fetch) = grep { /curl [^\n]*nginx-\$\{NGINX_VERSION\}\.tar\.gz/ }
              $df =~ /^RUN ((?:.*\\\n)*.*)$/mg;
ok($fetch, 'one RUN downloads the tarball') or $fetch = '';
like($fetch,
     qr{curl [^\n]*\\\n\s*&& echo "\$\{NGINX_SHA256\}  nginx-\$\{NGINX_VERSION\}\.tar\.gz" \| sha256sum -c - \\\n\s*&& tar xzf nginx-\$\{NGINX_VERSION\}\.tar\.gz},
     '... sha256sum -c checks it, and only then is it extracted');
my @tar = $df =~ /\btar x/g;
is(scalar @tar, 1, 'nothing else extracts it');
my %pinned = ('1.22.1' =>
    '9ebb333a9e82b952acd3e2b4aeb1d4ff6406f72491bab6cd9fe69f0dea737f31');
is($sha, $pinned{$version},
   "the checksum is nginx-$version.tar.gz's (Debian's pristine orig.tar.gz)");

# the configuration the image renders
my $conf = `sh docker/render-conf.sh nginx.conf.example`;
is($?, 0, 'render-conf.sh runs');
like($conf, qr{^load_module modules/ngx_http_ddbm_module\.so;$}m,
     'the module from the image\'s modules directory');
like($conf, qr{server dynamodb-local:8000;}, 'the upstream is the service');
like($conf, qr{ddbm_endpoint_host\s+dynamodb-local:8000;},
     'and the signed Host too');
like($conf, qr{^\s+listen 8080;$}m, 'listening on the container\'s port');
unlike($conf, qr{127\.0\.0\.1:8000}, 'nothing points at the host any more');
like($conf, qr{^\s+ddbm_jwt_jwks\s+/etc/nginx/jwt/jwks\.json;$}m,
     'the token keys the entrypoint checks');

# no key in any layer: a key pair made while building is removed in the
# same RUN, and none is made where the configuration looks
my @runs = $df =~ /^RUN ((?:.*\\\n)*.*)$/mg;
for my $run (grep { /dev-keys/ } @runs) {
    my @dirs = $run =~ /dev-keys --dir (\S+)/g;
    for my $d (@dirs) {
        like($run, qr{rm -rf [^\n]*\Q$d\E(?:\s|$)},
             "the build's key pair in $d is removed in the same layer");
        unlike($d, qr{^/etc/nginx/jwt}, "$d is not where nginx looks");
    }
}
unlike($df, qr{^ENV\s+DDBM_DEV_KEYS}m, 'development keys are not the default');
like($df, qr{^COPY docker/entrypoint\.sh /usr/local/bin/ddbm-entrypoint$}m,
     'the entrypoint is in the image');
like($df, qr{^ENTRYPOINT \["/usr/local/bin/ddbm-entrypoint"\]$}m,
     'and is the entrypoint');
like($df, qr{^CMD \["nginx", "-g", "daemon off;"\]$}m,
     'with nginx\'s own command (ENTRYPOINT clears the inherited CMD)');
like($compose,
     qr{\n  nginx:\n(?:    .*\n|\s*\n)*?      DDBM_DEV_KEYS: yes-insecure-development-keys\n},
     'the development compose file asks for development keys');

# ------------------------------------------------------- the entrypoint

my $cli = abs_path($ENV{DDBM_CLI} || 'build/ddbm');

# runs docker/entrypoint.sh with $shell in a fresh directory (key dir
# $dir/jwt, configuration $dir/nginx.conf rendered as the image does, the
# next entrypoint a stub that records its arguments); returns the status,
# its stderr and stdout, the directory, the stub's arguments (undef if it
# did not run)
sub entry {
    my ($shell, $env, @cmd) = @_;
    my $dir = tempdir(CLEANUP => 1);
    mkdir "$dir/bin";
    symlink($cli, "$dir/bin/ddbm") if -x $cli;
    open my $st, '>', "$dir/next" or die $!;
    print $st "#!/bin/sh\nprintf '%s\\n' \"\$@\" > '$dir/next.args'\n";
    close $st;
    chmod 0755, "$dir/next";
    open my $c, '>', "$dir/nginx.conf" or die $!;
    print $c $conf;
    close $c;
    if ($env->{MOUNT}) {
        mkdir "$dir/jwt";
        open my $j, '>', "$dir/jwt/jwks.json" or die $!;
        print $j '{"keys":[]}';
        close $j;
    }
    my %e = (PATH => "$dir/bin:/usr/bin:/bin", DDBM_JWT_DIR => "$dir/jwt",
             DDBM_NGINX_CONF => "$dir/nginx.conf",
             DDBM_NEXT_ENTRYPOINT => "$dir/next",
             map { $_ => $env->{$_} } grep { $_ ne 'MOUNT' } keys %$env);
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        %ENV = %e;
        open STDOUT, '>', "$dir/out";
        open STDERR, '>', "$dir/err";
        exec $shell, 'docker/entrypoint.sh', @cmd;
        exit 127;
    }
    waitpid($pid, 0);
    my $status = $? >> 8;
    my $args = -e "$dir/next.args" ? slurp("$dir/next.args") : undef;
    return ($status, scalar slurp("$dir/err"), scalar slurp("$dir/out"),
            $dir, $args);
}

my @nginx = ('nginx', '-g', 'daemon off;');
my $nginx_args = "nginx\n-g\ndaemon off;\n";

for my $shell (grep { -x $_ } '/bin/sh', '/bin/bash') {
    my ($rc, $err, $out, $dir, $args);

    ($rc, $err, $out, $dir, $args) = entry($shell, {}, @nginx);
    is($rc, 78, "$shell: no JWKS, no DDBM_DEV_KEYS: refuses to start");
    is($args, undef, "$shell: ... and NGINX is not started");
    like($err, qr{\Q$dir\E/jwt/jwks\.json does not exist},
         "$shell: ... saying which file is missing");
    like($err, qr{Mount your Cognito user pool's JWKS there},
         "$shell: ... what to mount there");
    like($err, qr{DDBM_JWT_ISSUER and DDBM_JWT_CLIENT_ID},
         "$shell: ... what to set with it");
    like($err, qr{DDBM_DEV_KEYS=yes-insecure-development-keys},
         "$shell: ... and how to ask for development keys");
    ok(!-e "$dir/jwt", "$shell: ... and makes no key");

    ($rc, $err, $out, $dir, $args) =
        entry($shell, { DDBM_DEV_KEYS => 'yes' }, @nginx);
    is($rc, 78, "$shell: DDBM_DEV_KEYS=yes is not asking in so many words");
    like($err, qr{set it to exactly yes-insecure-development-keys},
         "$shell: ... and it says what is");
    ok(!-e "$dir/jwt" && !defined $args, "$shell: ... no key, no NGINX");

    ($rc, $err, $out, $dir, $args) = entry($shell, { MOUNT => 1 }, @nginx);
    is($rc, 0, "$shell: a mounted JWKS: starts") or diag $err;
    is($args, $nginx_args, "$shell: ... NGINX, with its arguments");
    ok(!-e "$dir/jwt/private.pem", "$shell: ... and makes no key");
    like($err, qr{DDBM_JWT_ISSUER is not set},
         "$shell: ... warning that the issuer is the configuration's");

    ($rc, $err, $out, $dir, $args) = entry($shell,
        { MOUNT => 1,
          DDBM_JWT_ISSUER => 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123',
          DDBM_JWT_CLIENT_ID => '4abc5def6ghi 7jkl8mno' }, @nginx);
    is($rc, 0, "$shell: the pool's issuer and client ids: starts")
        or diag $err;
    my $c = slurp("$dir/nginx.conf");
    like($c, qr{^\s+ddbm_jwt_issuer\s+https://cognito-idp\.eu-west-1\.amazonaws\.com/eu-west-1_AbC123;$}m,
         "$shell: ... the issuer is in the configuration");
    like($c, qr{^\s+ddbm_jwt_client_id\s+4abc5def6ghi 7jkl8mno;}m,
         "$shell: ... and the client ids");
    unlike($c, qr{DevPool1|ddbmdevclient},
           "$shell: ... instead of the development ones");

    for my $bad (['DDBM_JWT_ISSUER', 'http://cognito.example/x'],
                 ['DDBM_JWT_ISSUER', 'https://a.example/x|e'],
                 ['DDBM_JWT_CLIENT_ID', 'abc;def'],
                 ['DDBM_JWT_CLIENT_ID', '  ']) {
        ($rc, $err, $out, $dir, $args) =
            entry($shell, { MOUNT => 1, $bad->[0] => $bad->[1] }, @nginx);
        is($rc, 78, "$shell: $bad->[0]='$bad->[1]' is refused");
        is(slurp("$dir/nginx.conf"), $conf,
           "$shell: ... the configuration is untouched");
    }

    ($rc, $err, $out, $dir, $args) =
        entry($shell, {}, 'ddbm', 'list-tables');
    is($rc, 0, "$shell: another command runs without keys");
    is($args, "ddbm\nlist-tables\n", "$shell: ... unchanged");

  SKIP: {
        skip 'no ddbm CLI built', 7 unless -x $cli;

        ($rc, $err, $out, $dir, $args) = entry($shell,
            { DDBM_DEV_KEYS => 'yes-insecure-development-keys' }, @nginx);
        is($rc, 0, "$shell: DDBM_DEV_KEYS=yes-insecure-development-keys:"
                   . " starts") or diag $err;
        is($args, $nginx_args, "$shell: ... NGINX");
        ok(-s "$dir/jwt/jwks.json" && -s "$dir/jwt/private.pem",
           "$shell: ... with a key pair made now");
        like($err, qr{WARNING: .*never in production},
             "$shell: ... and a warning");

        # the same container started again: the same keys
        my $jwks = slurp("$dir/jwt/jwks.json");
        open my $saved, '>&', \*STDERR or die $!;
        open STDERR, '>', '/dev/null' or die $!;
        my %e = (PATH => "$dir/bin:/usr/bin:/bin", DDBM_JWT_DIR => "$dir/jwt",
                 DDBM_NGINX_CONF => "$dir/nginx.conf",
                 DDBM_NEXT_ENTRYPOINT => "$dir/next",
                 DDBM_DEV_KEYS => 'yes-insecure-development-keys');
        my $again = system('env', '-i', (map { "$_=$e{$_}" } sort keys %e),
                           $shell, 'docker/entrypoint.sh', @nginx);
        is($again >> 8, 0, "$shell: restarted: starts");
        is(slurp("$dir/jwt/jwks.json"), $jwks, "$shell: ... same keys");

        # development keys left behind, DDBM_DEV_KEYS gone: refused
        delete $e{DDBM_DEV_KEYS};
        my $left = system('env', '-i', (map { "$_=$e{$_}" } sort keys %e),
                          $shell, 'docker/entrypoint.sh', @nginx);
        open STDERR, '>&', $saved or die $!;
        is($left >> 8, 78, "$shell: a development pair without"
                           . " DDBM_DEV_KEYS is refused");
    }
}

SKIP: {
    my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
    my $module = $ENV{TEST_NGINX_MODULE} || 'build/ngx_http_ddbm_module.so';
    skip 'no nginx binary or module built', 1
        unless -x $nginx && -e $module;
    skip 'no ddbm CLI built', 1 unless -x $cli;
    $module = abs_path($module);

    # the configuration as a development container runs it: keys made by
    # the entrypoint; dynamodb-local resolves only inside compose: back to
    # loopback here
    my ($rc, $err, $out, $dir) = entry('/bin/sh',
        { DDBM_DEV_KEYS => 'yes-insecure-development-keys' }, @nginx);
    my $local = slurp("$dir/nginx.conf");
    $local =~ s/dynamodb-local:8000/127.0.0.1:8000/g;
    $local =~ s{^load_module .*$}{load_module $module;}m;
    $local =~ s{/etc/nginx/jwt/}{$dir/jwt/}g;
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh $local, "pid $dir/nginx.pid;\n";
    close $fh;
    mkdir "$dir/logs";
    my $t = `$nginx -t -p $dir -c $dir/nginx.conf -e $dir/logs/error.log 2>&1`;
    is($?, 0, 'nginx -t passes on the rendered configuration')
        or diag $t;
}

done_testing();
