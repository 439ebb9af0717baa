package DdbmModule;

# The NGINX configuration every module suite shares: the module loaded,
# DynamoDB Local behind an upstream with keepalive, the internal location
# the module's calls go through, and (unless a block brings its own
# config) the API locations as nginx.conf.example has them.  Identity comes
# from a test header here; the token verification has suites of its own.
#
#   use Test::Nginx::Socket 'no_plan';
#   use DdbmTest;
#   use DdbmModule;
#   add_block_preprocessor(\&DdbmModule::preprocess);
#
# Works under our runner and the real Test::Nginx alike: it only sets
# block sections, with $TEST_NGINX_* variables both runners expand.

use strict;
use warnings;

use Exporter 'import';
use File::Temp ();
use DdbmExample ();
use DdbmTest ();
our @EXPORT = qw(ddbm_api_config json_re seed_messages_json seed_table
                 ddbm_http_config ddbm_internal_location
                 ddbm_signed_proxy);

our %SUB = (
    andrewbrown => '71c568d1-29bb-4ae1-92c5-057d12db82cb',
    bayko       => '8fa3c183-b83e-47b8-b41e-68081e5ff801',
    londo       => '7d62a217-66bb-4d2e-be24-ddb1b04128f9',
);

our %UUID = (
    andrewbrown => '6f4736eb-c53a-4877-968e-ae8957f9383e',
    bayko       => '1c57dab3-621d-431c-b55d-de5cf7274595',
    londo       => '69fca161-0a2d-4422-84aa-6a29d877f66e',
);

our $GROUP = '5ae290ed-55d1-47a0-bc6d-fe2bc2700399';

our %NAME = (
    andrewbrown => 'Andrew Brown',
    bayko       => 'Andrew Bayko',
    londo       => 'Londo Mollari',
);

# `ddbm seed --time $SEED_TIME`: message i at $SEED_TIME + i minutes
our $SEED_TIME = '2026-11-20T10:00:00.000000+00:00';

our @SEED = (
    [andrewbrown => "Bayko, I put NGINX in front of the messages table today. No Flask process in the path anymore."],
    [bayko => "Nice! So the browser talks to NGINX and NGINX talks straight to DynamoDB?"],
    [andrewbrown => "Exactly. A dynamic module signs every call with SigV4 and sends it as a subrequest."],
    [bayko => "Does a slow DynamoDB answer block a worker? That was my first worry."],
    [andrewbrown => "No, the subrequests are non-blocking, and the upstream keeps a pool of keepalive connections."],
    [bayko => "What happened to the Lambda that kept the last message up to date?"],
    [andrewbrown => "Gone. The message and both conversation rows are written in one transaction now."],
    [bayko => "So the inbox can never show a stale last message. I like that a lot."],
    [andrewbrown => "And conversations no longer vanish on the first of January either."],
    [bayko => "Ha, the begins_with year filter. I never trusted that one."],
    [andrewbrown => "The old bin/ddb scripts still read everything: the key layout did not change."],
    [bayko => "Then let's point wrk at it tonight and compare with the Flask numbers."],
);

sub seed_time ($) {
    my ($i) = @_;
    return sprintf '2026-11-20T10:%02d:00.000000+00:00', $i;
}

# the seeded messages $from..$to as GET /api/messages answers them
sub seed_messages_json ($$) {
    my ($from, $to) = @_;
    my @items;
    for my $i ($from .. $to) {
        my ($handle, $text) = @{ $SEED[$i] };
        push @items, qq({"uuid":"<UUID>","display_name":"$NAME{$handle}",)
                   . qq("handle":"$handle","message":"$text",)
                   . qq("created_at":") . seed_time($i) . '"}';
    }
    return '[' . join(',', @items) . ']';
}

# load the demo data into the suite's table (ddbm_fresh_table first)
sub seed_table () {
    DdbmTest::ddbm_cli('--table', $ENV{TEST_NGINX_DDB_TABLE}, 'seed',
                       '--time', $SEED_TIME);
}

# The declared schema and routes, exactly as nginx.conf.example has them:
# the schema's text (between "# ---- BEGIN schema" and "# ---- END schema")
# goes at http level with the suite's table, and each route (between
# "# ---- BEGIN route NAME" and "# ---- END route NAME") into a file that a
# location includes:
#     include $TEST_NGINX_DDBM_ROUTES/list_messages.conf;
my $schema = DdbmExample::schema('$TEST_NGINX_DDB_TABLE');
my %route = DdbmExample::routes();
my $route_dir = File::Temp::tempdir('ddbm-routes-XXXXXX', TMPDIR => 1,
                                    CLEANUP => 1);
for my $name (keys %route) {
    my $file = "$route_dir/$name.conf";
    open my $f, '>', $file or die "$file: $!";
    print $f $route{$name};
    close $f or die "$file: $!";
}
$ENV{TEST_NGINX_DDBM_ROUTES} = $route_dir;

my $http_config = <<'_EOC_';
    upstream dynamodb {
        server 127.0.0.1:$TEST_NGINX_DDB_PORT;
        keepalive 8;
    }

    ddbm_table          $TEST_NGINX_DDB_TABLE;
    ddbm_region         us-east-1;
    ddbm_endpoint_host  127.0.0.1:$TEST_NGINX_DDB_PORT;
    ddbm_credentials    static local local;
    ddbm_identity       $http_x_test_sub unsafe_client_supplied;
    ddbm_cors_origin    http://localhost:3000;
_EOC_
$http_config .= $schema;

# An internal location that sends the module's signed DynamoDB calls to
# $target, with exactly the headers nginx.conf.example's /_ddbm sends;
# $buffer is its subrequest_output_buffer_size.
sub ddbm_signed_proxy ($$$) {
    my ($match, $target, $buffer) = @_;
    return <<"_EOC_";
    location $match {
        internal;
        proxy_pass $target;
        proxy_http_version 1.1;
        proxy_pass_request_headers off;
        proxy_set_header Connection "";
        proxy_set_header Host \$ddbm_host;
        proxy_set_header Content-Type application/x-amz-json-1.0;
        proxy_set_header X-Amz-Target \$ddbm_target;
        proxy_set_header X-Amz-Date \$ddbm_date;
        proxy_set_header X-Amz-Security-Token \$ddbm_security_token;
        proxy_set_header Authorization \$ddbm_authorization;
        proxy_connect_timeout 2s;
        proxy_read_timeout 5s;
        subrequest_output_buffer_size $buffer;
    }
_EOC_
}

my $internal = ddbm_signed_proxy('= /_ddbm', 'http://dynamodb/', '1m');

sub ddbm_http_config () { return $http_config }

sub ddbm_internal_location () { return $internal }

sub ddbm_api_config () {
    return <<'_EOC_';
    location = /health {
        ddbm_pattern health;
    }
    location = /api/message_groups {
        include $TEST_NGINX_DDBM_ROUTES/list_conversations.conf;
    }
    location ~ ^/api/messages/(?<group>[^/]+)$ {
        include $TEST_NGINX_DDBM_ROUTES/list_messages.conf;
    }
    location = /api/messages {
        ddbm_pattern post_message;
    }
    location ~ ^/api/users/@(?<handle>[^/]+)/short$ {
        include $TEST_NGINX_DDBM_ROUTES/user_short.conf;
    }
_EOC_
}

# An exact JSON body as a regex: <UUID> and <TIME> stand for a fresh v4
# uuid and a time as the module writes it; everything else is literal.
sub json_re ($) {
    my ($template) = @_;
    my $re = quotemeta $template;
    $re =~ s/\\<UUID\\>/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/g;
    $re =~ s/\\<TIME\\>/\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}\\+00:00/g;
    return qr/^$re$/s;
}

sub preprocess {
    my $block = shift;

    if (!defined $block->main_config) {
        $block->set_value('main_config',
                          "load_module \$TEST_NGINX_MODULE;\n");
    }

    $block->set_value('http_config',
                      $http_config . ($block->http_config // ''));

    $block->set_value('config',
                      $internal . ($block->config // ddbm_api_config()));
}

1;
