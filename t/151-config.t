# Directive bounds that a review found missing, checked with `nginx -t`
# (plain Test::More: the runners cannot expect a configuration to fail).
#  - ddbm_write_retries: 1..32.  63 and more used to make the lost-race
#    pause's shift wrap to a zero divisor (SIGFPE in the worker).
#  - ddbm_retries N [base] [longest pause]: the pause is capped, the cap no
#    shorter than the base.
# Needs TEST_NGINX_BINARY and TEST_NGINX_MODULE (scripts/test.sh sets them).

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);

my $nginx  = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $module = $ENV{TEST_NGINX_MODULE};

plan skip_all => 'TEST_NGINX_MODULE is needed (scripts/test.sh)'
    if !$module || !-f $module;

my $dir = tempdir('ddbm-config-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$dir/logs";

sub nginx_t {
    my ($directives) = @_;
    my $conf = "$dir/nginx.conf";
    open my $f, '>', $conf or die "$conf: $!";
    print $f <<"_EOC_";
load_module $module;
error_log $dir/logs/error.log;
pid $dir/logs/nginx.pid;
events { }
http {
    ddbm_credentials static local local;
    server {
        listen 127.0.0.1:1;
        location = /api/messages {
            ddbm_pattern post_message;
            ddbm_identity \$http_x_sub;
            $directives
        }
    }
}
_EOC_
    close $f;
    my $out = `\Q$nginx\E -t -p \Q$dir/\E -c \Q$conf\E -e \Q$dir/logs/error.log\E 2>&1`;
    return ($? >> 8, $out);
}

for my $ok ('ddbm_write_retries 1;', 'ddbm_write_retries 32;',
            'ddbm_retries 3;', 'ddbm_retries 3 25ms;',
            'ddbm_retries 10 25ms 20s;', 'ddbm_retries 2 50ms 50ms;')
{
    my ($rc, $out) = nginx_t($ok);
    is($rc, 0, "nginx -t accepts \"$ok\"") or diag($out);
}

for my $case (['ddbm_write_retries 0;', qr/must be between 1 and 32/],
              ['ddbm_write_retries 33;', qr/must be between 1 and 32/],
              ['ddbm_write_retries 63;', qr/must be between 1 and 32/],
              ['ddbm_write_retries 1000;', qr/must be between 1 and 32/],
              ['ddbm_retries 11;', qr/from 0 to 10/],
              ['ddbm_retries 3 0;', qr/invalid backoff time/],
              ['ddbm_retries 3 50ms 10ms;', qr/no shorter than the base/],
              ['ddbm_retries 3 50ms x;', qr/invalid longest pause/],
              ['ddbm_retries 3 25ms 1s 2;', qr/invalid number of arguments/])
{
    my ($directive, $why) = @$case;
    my ($rc, $out) = nginx_t($directive);
    isnt($rc, 0, "nginx -t refuses \"$directive\"");
    like($out, $why, "... and says why") or diag($out);
}

done_testing();
