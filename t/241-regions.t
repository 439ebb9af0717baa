# ddbm_allowed_regions (data residency), checked with `nginx -t` (plain
# Test::More: the runners cannot expect a configuration to fail).  A
# location with a ddbm_pattern is refused when its ddbm_region, or the
# region its ddbm_endpoint_host names (dynamodb.<region>.amazonaws.com,
# dynamodb-fips.<region>..., vpce-....dynamodb.<region>.vpce.amazonaws.com,
# dynamodb.<region>.api.aws), is not in the list; an AWS name whose region
# cannot be told is refused too; a name that is not AWS's (DynamoDB Local)
# is judged by ddbm_region alone.
# Needs TEST_NGINX_BINARY and TEST_NGINX_MODULE (scripts/test.sh sets them).

use strict;
use warnings;

use Test::More;
use DdbmConfigTest;

my $EU = 'ddbm_allowed_regions eu-west-1 eu-central-1;';
my $VPCE = 'vpce-0a1b2c3d4e5f60718-abcdefgh.dynamodb';

my @accepted = (
    ['no allow-list: any region', '', 'ddbm_region ap-south-1;'],
    ['regional endpoint in the list', $EU,
     'ddbm_region eu-west-1; '
     . 'ddbm_endpoint_host dynamodb.eu-west-1.amazonaws.com;'],
    ['the default endpoint of an allowed region', $EU,
     'ddbm_region eu-central-1;'],
    ['a port after the name', $EU,
     'ddbm_region eu-west-1; '
     . 'ddbm_endpoint_host dynamodb.eu-west-1.amazonaws.com:443;'],
    ['a VPC interface endpoint in the list', $EU,
     "ddbm_region eu-west-1; "
     . "ddbm_endpoint_host $VPCE.eu-west-1.vpce.amazonaws.com;"],
    ['a FIPS endpoint in the list',
     'ddbm_allowed_regions us-east-1;',
     'ddbm_endpoint_host dynamodb-fips.us-east-1.amazonaws.com;'],
    ['a dual-stack endpoint in the list', $EU,
     'ddbm_region eu-west-1; ddbm_endpoint_host dynamodb.eu-west-1.api.aws;'],
    ['a name that is not AWS\'s (DynamoDB Local): ddbm_region alone', $EU,
     'ddbm_region eu-west-1; ddbm_endpoint_host 127.0.0.1:8000;'],
    ['region names compare without case', 'ddbm_allowed_regions EU-West-1;',
     'ddbm_region eu-west-1;'],
    # the allow-list and the region set at different levels: the check is
    # made with what the pattern's location inherits, and the default
    # endpoint follows the location's region, not the server's default
    ['allow-list at http, region in the location', $EU,
     'ddbm_region eu-west-1;'],
    ['allow-list in the location', 'ddbm_region eu-west-1;',
     'ddbm_allowed_regions eu-west-1;'],
);

for my $case (@accepted) {
    my ($name, $http, $loc) = @$case;
    my ($rc, $out) = nginx_t($http, $loc);
    is($rc, 0, "nginx -t accepts: $name") or diag($out);
}

my @refused = (
    ['the default region (us-east-1) outside the list', $EU, '',
     qr/\[emerg\] ddbm_region "us-east-1" is not in ddbm_allowed_regions/],
    ['ddbm_region outside the list', $EU, 'ddbm_region us-west-2;',
     qr/\[emerg\] ddbm_region "us-west-2" is not in ddbm_allowed_regions/],
    ['an endpoint in another region than an allowed ddbm_region', $EU,
     'ddbm_region eu-west-1; '
     . 'ddbm_endpoint_host dynamodb.us-east-1.amazonaws.com;',
     qr/\[emerg\] ddbm_endpoint_host "dynamodb\.us-east-1\.amazonaws\.com" is in region "us-east-1", which is not in ddbm_allowed_regions/],
    ['a VPC endpoint in another region', $EU,
     "ddbm_region eu-west-1; "
     . "ddbm_endpoint_host $VPCE.us-west-2.vpce.amazonaws.com;",
     qr/\[emerg\] ddbm_endpoint_host "\Q$VPCE\E\.us-west-2\.vpce\.amazonaws\.com" is in region "us-west-2"/],
    ['a FIPS endpoint in another region', $EU,
     'ddbm_region eu-west-1; '
     . 'ddbm_endpoint_host dynamodb-fips.us-east-1.amazonaws.com:443;',
     qr/is in region "us-east-1", which is not in ddbm_allowed_regions/],
    ['an AWS name without a region', $EU,
     'ddbm_region eu-west-1; ddbm_endpoint_host dynamodb.amazonaws.com;',
     qr/\[emerg\] ddbm_endpoint_host "dynamodb\.amazonaws\.com": cannot tell its region, and ddbm_allowed_regions is set/],
    ['the location\'s list replaces the outer one',
     'ddbm_allowed_regions us-east-1 eu-west-1; ddbm_region us-east-1;',
     'ddbm_allowed_regions eu-west-1;',
     qr/ddbm_region "us-east-1" is not in ddbm_allowed_regions/],
    ['the directive twice at one level',
     'ddbm_allowed_regions eu-west-1; ddbm_allowed_regions eu-central-1;',
     'ddbm_region eu-west-1;',
     qr/\[emerg\] "ddbm_allowed_regions" directive is duplicate/],
    ['the directive without a region', '', 'ddbm_allowed_regions;',
     qr/\[emerg\] invalid number of arguments in "ddbm_allowed_regions"/],
);

for my $case (@refused) {
    my ($name, $http, $loc, $why) = @$case;
    my ($rc, $out) = nginx_t($http, $loc);
    isnt($rc, 0, "nginx -t refuses: $name");
    like($out, $why, "... and says why ($name)") or diag($out);
}

done_testing();
