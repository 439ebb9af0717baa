#!/usr/bin/env perl
#
# The README's IAM policy (between "<!-- BEGIN ddbm plan --policy -->" and
# its END marker) is what `ddbm plan --policy-only` generates for
# nginx.conf.example now: scripts/readme-iam.sh --check fails when it
# differs (`make readme-iam` rewrites it).
#
# Needs the built module and CLI (build/); nginx from TEST_NGINX_BINARY
# (scripts/test.sh sets it), else /usr/sbin/nginx.

use strict;
use warnings;

use FindBin ();
use Test::More;

my $top = "$FindBin::Bin/../..";

local $ENV{NGINX_BINARY} = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';

my $out = `bash \Q$top/scripts/readme-iam.sh\E --check 2>&1`;
is($? >> 8, 0, 'README.md\'s IAM policy is the one ddbm plan generates')
    or diag($out);

done_testing();
