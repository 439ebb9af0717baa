# docker/ cannot be run here (no Docker engine): check offline what can
# be checked.  The image pins one NGINX version and builds the module with
# --with-compat --add-dynamic-module; everything it copies exists; the
# compose file runs amazon/dynamodb-local (pinned, data in a volume) as the
# reference's does; the configuration the image renders from
# nginx.conf.example points at the compose service and passes `nginx -t`
# with the module built here.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);

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
     'the token keys the image makes');
like($df, qr{ddbm dev-keys --dir /etc/nginx/jwt}, 'the image makes them');

SKIP: {
    my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
    my $module = $ENV{TEST_NGINX_MODULE} || 'build/ngx_http_ddbm_module.so';
    skip 'no nginx binary or module built', 1
        unless -x $nginx && -e $module;

    # dynamodb-local resolves only inside compose: back to loopback here
    (my $local = $conf) =~ s/dynamodb-local:8000/127.0.0.1:8000/g;
    $local =~ s{^load_module .*$}{load_module $module;}m;
    my $dir = tempdir(CLEANUP => 1);
    my $cli = $ENV{DDBM_CLI} || 'build/ddbm';
    skip 'no ddbm CLI built', 1 unless -x $cli;
    system($cli, 'dev-keys', '--dir', "$dir/jwt") == 0
        or die "ddbm dev-keys failed\n";
    $local =~ s{/etc/nginx/jwt/}{$dir/jwt/}g;
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh $local, "pid $dir/nginx.pid;\n";
    close $fh;
    mkdir "$dir/logs";
    my $out = `$nginx -t -p $dir -c $dir/nginx.conf -e $dir/logs/error.log 2>&1`;
    is($?, 0, 'nginx -t passes on the rendered configuration')
        or diag $out;
}

done_testing();
