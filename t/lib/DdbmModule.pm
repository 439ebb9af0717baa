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
our @EXPORT = qw(ddbm_api_config);

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

my $http_config = <<'_EOC_';
    upstream dynamodb {
        server 127.0.0.1:$TEST_NGINX_DDB_PORT;
        keepalive 8;
    }

    ddbm_table          $TEST_NGINX_DDB_TABLE;
    ddbm_region         us-east-1;
    ddbm_endpoint_host  127.0.0.1:$TEST_NGINX_DDB_PORT;
    ddbm_credentials    static local local;
    ddbm_identity       $http_x_test_sub;
    ddbm_cors_origin    http://localhost:3000;
_EOC_

my $internal = <<'_EOC_';
    location = /_ddbm {
        internal;
        proxy_pass http://dynamodb/;
        proxy_http_version 1.1;
        proxy_pass_request_headers off;
        proxy_set_header Connection "";
        proxy_set_header Host $ddbm_host;
        proxy_set_header Content-Type application/x-amz-json-1.0;
        proxy_set_header X-Amz-Target $ddbm_target;
        proxy_set_header X-Amz-Date $ddbm_date;
        proxy_set_header X-Amz-Security-Token $ddbm_security_token;
        proxy_set_header Authorization $ddbm_authorization;
        proxy_connect_timeout 2s;
        proxy_read_timeout 5s;
        subrequest_output_buffer_size 1m;
    }
_EOC_

sub ddbm_api_config () {
    return <<'_EOC_';
    location = /health {
        ddbm_pattern health;
    }
    location = /api/message_groups {
        ddbm_pattern list_conversations;
    }
    location /api/messages/ {
        ddbm_pattern list_messages;
    }
    location = /api/messages {
        ddbm_pattern post_message;
    }
    location ~ ^/api/users/@([^/]+)/short$ {
        ddbm_pattern user_short $1;
    }
_EOC_
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
