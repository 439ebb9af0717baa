# Directive bounds that a review found missing, checked with `nginx -t`
# (plain Test::More: the runners cannot expect a configuration to fail).
#  - ddbm_write_retries: 1..32.  63 and more used to make the lost-race
#    pause's shift wrap to a zero divisor (SIGFPE in the worker).
#  - ddbm_retries N [base] [longest pause]: the pause is capped, the cap no
#    shorter than the base.
#  - ddbm_credentials auto [profile=NAME] [imds_v1=on|off]: one chain per
#    configuration.
#  - ddbm_identity from what the client sends ($http_*, $cookie_*, $arg_*)
#    only with the flag unsafe_client_supplied; the verified token's
#    $ddbm_jwt_sub needs none; no other flag.
# Needs TEST_NGINX_BINARY and TEST_NGINX_MODULE (scripts/test.sh sets them).

use strict;
use warnings;

use Test::More;
use DdbmConfigTest;

for my $ok ('ddbm_write_retries 1;', 'ddbm_write_retries 32;',
            'ddbm_retries 3;', 'ddbm_retries 3 25ms;',
            'ddbm_retries 10 25ms 20s;', 'ddbm_retries 2 50ms 50ms;')
{
    my ($rc, $out) = nginx_t('', $ok);
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
    my ($rc, $out) = nginx_t('', $directive);
    isnt($rc, 0, "nginx -t refuses \"$directive\"");
    like($out, $why, "... and says why") or diag($out);
}

# ddbm_credentials auto: anywhere, with its parameters; one chain
for my $ok (['', 'ddbm_credentials auto;'],
            ['', 'ddbm_credentials auto profile=prod imds_v1=on;'],
            ['ddbm_credentials auto imds_v1=off;', ''],
            ['ddbm_credentials auto profile=p;',
             'ddbm_credentials auto profile=p;'])
{
    my ($rc, $out) = nginx_t(@$ok);
    is($rc, 0, "nginx -t accepts \"$ok->[0] $ok->[1]\"") or diag($out);
}

for my $case (['', 'ddbm_credentials auto imds_v1=maybe;',
               qr/unknown parameter "imds_v1=maybe"/],
              ['', 'ddbm_credentials auto profile=;',
               qr/unknown parameter "profile="/],
              ['ddbm_credentials auto;', 'ddbm_credentials auto profile=p;',
               qr/already set with other parameters/],
              ['', 'ddbm_credentials automatic;',
               qr/takes "auto \[profile=<name>\]/])
{
    my ($http, $loc, $why) = @$case;
    my ($rc, $out) = nginx_t($http, $loc);
    isnt($rc, 0, "nginx -t refuses \"$http $loc\"");
    like($out, $why, "... and says why") or diag($out);
}

# ddbm_identity: a client-supplied value lets anyone be anyone
for my $id ('$http_x', '$cookie_x', '$arg_x', '${http_x_user}',
            'user-$cookie_session', '$HTTP_X_SUB', '$arg_sub$ddbm_jwt_sub')
{
    my $d = "ddbm_identity $id;";
    my ($rc, $out) = nginx_t('', '', $d);
    isnt($rc, 0, "nginx -t refuses \"$d\"");
    like($out, qr/\Q"$id"\E is supplied by the client \(\$\w+\): anyone could act as any user.*unsafe_client_supplied/,
         '... naming the problem and the flag') or diag($out);

    $d = "ddbm_identity $id unsafe_client_supplied;";
    ($rc, $out) = nginx_t('', '', $d);
    is($rc, 0, "nginx -t accepts \"$d\"") or diag($out);
}

for my $d ('ddbm_identity $ddbm_jwt_sub;', 'ddbm_identity $remote_addr;',
           'ddbm_identity $ddbm_jwt_sub unsafe_client_supplied;')
{
    my ($rc, $out) = nginx_t('', '', $d);
    is($rc, 0, "nginx -t accepts \"$d\"") or diag($out);
}

for my $d ('ddbm_identity $http_x unsafe;',
           'ddbm_identity $http_x UNSAFE_CLIENT_SUPPLIED;',
           'ddbm_identity $ddbm_jwt_sub client_supplied;',
           'ddbm_identity $http_x unsafe_client_supplied on;')
{
    my ($rc, $out) = nginx_t('', '', $d);
    isnt($rc, 0, "nginx -t refuses \"$d\"");
    like($out, qr/unknown flag|invalid number of arguments/,
         '... and says why') or diag($out);
}

# the read patterns that are declared routes now: refused with the way on
for my $name ('list_conversations', 'list_messages', 'user_short') {
    my ($rc, $out) = nginx_t_route('', <<"_EOC_");
        location = /x {
            ddbm_pattern $name;
        }
_EOC_
    isnt($rc, 0, "nginx -t refuses \"ddbm_pattern $name\"");
    like($out, qr/ddbm_pattern: "$name" is a declared route now: copy the "ddbm_route $name" block of nginx\.conf\.example/,
         '... and says what replaces it') or diag($out);
}
{
    my ($rc, $out) = nginx_t_route('', "        location = /x { ddbm_pattern list; }\n");
    like($out, qr/ddbm_pattern: unknown pattern "list"/,
         'an unknown pattern is still just unknown') or diag($out);
}

# ddbm_page_size went with them: refused at every level, with the way on
for my $at ('http', 'location') {
    my ($rc, $out) = $at eq 'http'
        ? nginx_t('ddbm_page_size 20 100;', '', '')
        : nginx_t_route('', "        location = /x { ddbm_page_size 20 100; }\n");
    isnt($rc, 0, "nginx -t refuses ddbm_page_size at $at level");
    like($out, qr/"ddbm_page_size" is gone: a declared route's Query sets its page size in its own "limit" line.* in \S+:\d+/,
         '... and says what replaces it, with the file and line')
        or diag($out);
}

# set at http level, with its flag, for every location
{
    my ($rc, $out) = nginx_t('ddbm_identity $http_x unsafe_client_supplied;',
                             '', '');
    is($rc, 0, 'nginx -t accepts the flag at http level') or diag($out);
}

done_testing();
