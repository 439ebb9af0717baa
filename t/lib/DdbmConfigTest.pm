package DdbmConfigTest;
# `nginx -t` on a small configuration with the module, for the suites that
# check what a configuration may say (t/151-config.t, t/241-regions.t):
# the runners cannot expect a configuration to fail.
#
#   my ($rc, $out) = nginx_t($http, $loc[, $identity]);
#
#   my ($rc, $out, $conf) = nginx_t_route($http, $server);
#
# $http goes at http level, $loc into a post_message location, whose
# identity is $identity (a whole directive; by default a test header,
# "ddbm_identity $http_x_sub unsafe_client_supplied;"); the http
# level gets "ddbm_credentials static local local;" unless $http names
# ddbm_credentials itself.  Needs TEST_NGINX_BINARY and TEST_NGINX_MODULE
# (scripts/test.sh sets them): without them the suite is skipped.
# nginx_t_route() is for declared routes: $http at http level (with the
# same credentials default), $server inside the server block (whole
# locations, no ddbm_pattern added); it also gives the configuration's
# path and text, to find the line a refusal must name.
use strict;
use warnings;
use Exporter ();
our @ISA = ('Exporter');
use File::Temp qw(tempdir);
use Test::More ();

our @EXPORT = qw(nginx_t nginx_t_route);

my $nginx  = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $module = $ENV{TEST_NGINX_MODULE};
my $dir;

sub import {
    Test::More::plan(skip_all => 'TEST_NGINX_MODULE is needed '
                                 . '(scripts/test.sh)')
        if !$module || !-f $module;
    $dir = tempdir('ddbm-config-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$dir/logs";
    __PACKAGE__->export_to_level(1, @_);
}

sub nginx_t {
    my ($http, $loc, $identity) = @_;
    $loc //= '';
    $identity //= 'ddbm_identity $http_x_sub unsafe_client_supplied;';
    my ($rc, $out) = nginx_t_route($http, <<"_EOC_");
        location = /api/messages {
            ddbm_pattern post_message;
            $identity
            $loc
        }
_EOC_
    return ($rc, $out);
}

sub nginx_t_route {
    my ($http, $server) = @_;
    $http //= '';
    $server //= '';
    my $creds = $http =~ /ddbm_credentials/
                ? '' : 'ddbm_credentials static local local;';
    my $conf = "$dir/nginx.conf";
    my $text = <<"_EOC_";
load_module $module;
error_log $dir/logs/error.log;
pid $dir/logs/nginx.pid;
events { }
http {
    $creds
$http
    server {
        listen 127.0.0.1:1;
$server
    }
}
_EOC_
    open my $f, '>', $conf or die "$conf: $!";
    print $f $text;
    close $f;
    my $out = `\Q$nginx\E -t -p \Q$dir/\E -c \Q$conf\E -e \Q$dir/logs/error.log\E 2>&1`;
    return ($? >> 8, $out, $conf, $text);
}

1;
