# `ddbm_credentials file <path> [<profile>]`: the AWS shared credentials
# file read by the core's parser (src/core/dm_credentials.c).
#
#  - a session token of 4000 bytes (a real STS token is over 1000) is sent
#    whole: the internal location proxies the module's DescribeTable to a
#    location of the same nginx that answers 200 only when
#    X-Amz-Security-Token is exactly the token in the file (403 else, which
#    /health turns into a 502);
#  - a relative path is resolved against the configuration prefix (the
#    directory of nginx.conf), not nginx's working directory;
#  - `nginx -t` fails, naming the file and the profile, on a missing file,
#    a missing profile and a profile without keys (plain Test::More checks
#    first: the Test::Nginx runners cannot expect a start to fail).

use Test::Nginx::Socket 'no_plan';
use DdbmTest;
use DdbmModule;
use File::Temp qw(tempdir);

my $table = ddbm_fresh_table('ddbm_t230');

# 4000 bytes of the base64 alphabet, no two 1000-byte quarters alike;
# nginx.conf gets it in quarters (one parameter may not exceed NGINX's
# 4 KB configuration buffer)
my @abc = ('A' .. 'Z', 'a' .. 'z', '0' .. '9', '+', '/');
my $token = join '', map { $abc[($_ * 7 + int($_ / 64)) % 64] } 0 .. 3999;
$ENV{"TEST_NGINX_TOKEN_$_"} = substr($token, ($_ - 1) * 1000, 1000)
    for 1 .. 4;
$ENV{TEST_NGINX_TOKEN} = $token;

# ---- nginx -t ---------------------------------------------------------------

my $nginx  = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $module = $ENV{TEST_NGINX_MODULE};

sub spew {
    my ($path, $text) = @_;
    open my $f, '>', $path or die "$path: $!";
    print $f $text;
    close $f or die "$path: $!";
}

SKIP: {
    Test::More::skip('TEST_NGINX_MODULE is needed (scripts/test.sh)', 13)
        if !$module || !-f $module;

    my $dir = tempdir('ddbm-cred-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$dir/conf" or die $!;
    mkdir "$dir/logs" or die $!;
    spew("$dir/conf/aws-credentials", <<"_EOF_");
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = default-secret

[test]
aws_access_key_id=AKIDTEST\r
aws_secret_access_key = test-secret\r
aws_session_token = $token\r

[empty]
aws_access_key_id =
aws_secret_access_key = empty-secret

[assumed]
role_arn = arn:aws:iam::123456789012:role/ddbm
source_profile = default
_EOF_

    my $conf = sub {
        my ($args) = @_;
        my $user = $> == 0 ? 'user root;' : '';
        return <<"_EOC_";
load_module $module;
$user
error_log $dir/logs/error.log;
pid $dir/logs/nginx.pid;
events { worker_connections 16; }
http {
    access_log off;
    server {
        listen 127.0.0.1:1;
        location = /health {
            ddbm_pattern health;
            ddbm_table t;
            ddbm_region us-east-1;
            ddbm_endpoint_host 127.0.0.1;
            ddbm_credentials file $args;
        }
        location = /_ddbm { internal; return 500; }
    }
}
_EOC_
    };

    my $nginx_t = sub {
        my ($args) = @_;
        spew("$dir/conf/nginx.conf", $conf->($args));
        # from another working directory: a relative path must not be
        # resolved against it
        my $out = `cd / && '$nginx' -t -p '$dir/' -c '$dir/conf/nginx.conf' -e '$dir/logs/error.log' 2>&1`;
        return ($? >> 8, $out);
    };

    my ($rc, $out) = $nginx_t->('aws-credentials test');
    Test::More::is($rc, 0, 'nginx -t: a relative path, in the conf prefix')
        or Test::More::diag($out);

    ($rc, $out) = $nginx_t->("$dir/conf/aws-credentials");
    Test::More::is($rc, 0, 'nginx -t: an absolute path, profile default')
        or Test::More::diag($out);

    ($rc, $out) = $nginx_t->('aws-credentials nope');
    Test::More::isnt($rc, 0, 'nginx -t fails on a missing profile');
    Test::More::like($out,
        qr/ddbm_credentials: no profile "nope" in "\Q$dir\E\/conf\/aws-credentials"/,
        '... naming the profile and the resolved file');

    ($rc, $out) = $nginx_t->('missing-credentials test');
    Test::More::isnt($rc, 0, 'nginx -t fails on a missing file');
    Test::More::like($out,
        qr/ddbm_credentials: cannot read "\Q$dir\E\/conf\/missing-credentials" \(2: No such file/,
        '... naming the resolved file');

    ($rc, $out) = $nginx_t->('aws-credentials assumed');
    Test::More::isnt($rc, 0, 'nginx -t fails on a profile without keys');
    Test::More::like($out,
        qr/ddbm_credentials: no aws_access_key_id and aws_secret_access_key for profile "assumed" in "\Q$dir\E\/conf\/aws-credentials" \(it uses role_arn/,
        '... naming the profile, the file and why');

    ($rc, $out) = $nginx_t->('aws-credentials empty');
    Test::More::isnt($rc, 0, 'nginx -t fails on an empty key id');
    Test::More::like($out,
        qr/ddbm_credentials: no aws_access_key_id and aws_secret_access_key for profile "empty" in "\Q$dir\E\/conf\/aws-credentials" in /,
        '... naming the profile and the file');

    ($rc, $out) = $nginx_t->('. test');
    Test::More::isnt($rc, 0, 'nginx -t fails on a directory');
    Test::More::like($out,
        qr/ddbm_credentials: cannot read "\Q$dir\E\/conf\/\.?"/,
        '... naming it');

    spew("$dir/conf/nul-credentials", "[test]\naws_access_key_id = A\0B\n");
    ($rc, $out) = $nginx_t->('nul-credentials test');
    Test::More::isnt($rc, 0, 'nginx -t fails on a file with a NUL byte');
}

# ---- the token sent whole -----------------------------------------------------

my $abs = tempdir('ddbm-cred-abs-XXXXXX', TMPDIR => 1, CLEANUP => 1);
spew("$abs/credentials", "[test]\naws_access_key_id = AKIDTEST\n"
     . "aws_secret_access_key = test-secret\naws_session_token = $token\n");
$ENV{TEST_NGINX_CREDENTIALS} = "$abs/credentials";

# the internal location sends the module's calls to /_fake_ddb, which
# answers DescribeTable only for the whole token
my $token_check = <<'_EOC_';
    location = /_token_check {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_fake_ddb;
        proxy_http_version 1.1;
        proxy_pass_request_headers off;
        proxy_set_header Host $ddbm_host;
        proxy_set_header Content-Type application/x-amz-json-1.0;
        proxy_set_header X-Amz-Target $ddbm_target;
        proxy_set_header X-Amz-Date $ddbm_date;
        proxy_set_header X-Amz-Security-Token $ddbm_security_token;
        proxy_set_header Authorization $ddbm_authorization;
        proxy_read_timeout 5s;
    }
    location = /_fake_ddb {
        set $t1 "$TEST_NGINX_TOKEN_1";
        set $t2 "$TEST_NGINX_TOKEN_2";
        set $t3 "$TEST_NGINX_TOKEN_3";
        set $t4 "$TEST_NGINX_TOKEN_4";
        set $want "$t1$t2$t3$t4";
        if ($http_x_amz_security_token != $want) {
            return 403 '{"__type":"com.amazonaws.dynamodb.v20120810#UnrecognizedClientException","message":"The security token included in the request is invalid."}';
        }
        default_type application/x-amz-json-1.0;
        return 200 '{"Table":{"TableName":"t","TableStatus":"ACTIVE"}}';
    }
_EOC_

no_shuffle();
add_block_preprocessor(\&DdbmModule::preprocess);

# runs first (the last added does): "--- token_check: <ddbm_credentials
# arguments>" makes /health-file with these credentials, its calls
# through /_token_check
add_block_preprocessor(sub {
    my $block = shift;
    my $args = $block->token_check;
    return if !defined $args;
    $args =~ s/^\s+|\s+$//g;
    $block->set_value('config', <<"_EOC_" . $token_check);
    location = /health-file {
        ddbm_pattern health;
        ddbm_credentials file $args;
        ddbm_backend /_token_check;
    }
_EOC_
    $block->set_value('request', "GET /health-file\n");
    $block->set_value('error_code', 200);
    $block->set_value('response_body', '{"status":"ok","table":"ddbm_t230"}');
    $block->set_value('no_error_log', "[emerg]\n[alert]\n");
});

run_tests();

__DATA__

=== TEST 1: a 4000-byte session token (absolute path) is sent whole
--- token_check: $TEST_NGINX_CREDENTIALS test



=== TEST 2: a relative path is in the conf prefix (nginx.conf's directory)
--- user_files
>>> ../conf/aws-credentials
# written by the test
[other]
aws_access_key_id = AKIDOTHER
aws_secret_access_key = other-secret
aws_session_token = other-token

[test]
aws_access_key_id = AKIDTEST
aws_secret_access_key = test-secret
aws_session_token = $TEST_NGINX_TOKEN
--- token_check: aws-credentials test



=== TEST 3: the same file against DynamoDB Local (signed with its keys)
--- user_files
>>> ../conf/aws-credentials
[test]
aws_access_key_id = AKIDTEST
aws_secret_access_key = test-secret
aws_session_token = $TEST_NGINX_TOKEN
--- config
    location = /health-file {
        ddbm_pattern health;
        ddbm_credentials file aws-credentials test;
    }
--- request
GET /health-file
--- error_code: 200
--- response_body: {"status":"ok","table":"ddbm_t230"}
