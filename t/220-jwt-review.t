# ddbm_jwt, two findings of a review (fixed by 288a24a):
#
#  (a) `ddbm_jwt on` let every OPTIONS request through, so an OPTIONS to a
#      guarded proxy_pass reached its backend without a token.  Only a
#      real CORS preflight (OPTIONS with Origin and
#      Access-Control-Request-Method) passes, and only in a location whose
#      content the messaging module answers (ddbm_pattern).
#  (b) the verdict was kept per request, so a location with another issuer
#      or app client reused one computed earlier in the same request under
#      another policy (here: a server-level `set $early $ddbm_jwt_sub;`,
#      evaluated under the server's policy before the location is chosen).
#
# Tokens are minted with the CLI (as t/200-jwt.t does) and live in %ENV
# (DDBM_T_*) for `--- more_headers eval`.

use Test::Nginx::Socket 'no_plan';
use DdbmTest;
use DdbmModule;
use File::Temp qw(tempdir);

$ENV{TEST_NGINX_DDB_TABLE} //= 'ddbm_t220';    # no DynamoDB call here

my $dir = tempdir('ddbm-jwt-review-XXXXXX', TMPDIR => 1, CLEANUP => 1);
ddbm_cli('dev-keys', '--dir', "$dir/k1", '--kid', 'key-1');
$ENV{TEST_NGINX_JWT_JWKS} = "$dir/k1/jwks.json";

my %SUB = %DdbmModule::SUB;

sub mint {
    my $t = ddbm_cli('mint-token', '--dir', "$dir/k1",
                     '--sub', $SUB{andrewbrown}, @_);
    $t =~ s/\s+\z//;
    die "mint-token printed no token: $t\n" if $t !~ /^[\w-]+\.[\w-]+\.[\w-]+$/;
    return $t;
}

# app client A is ddbmdevclient (mint-token's default), B is clientb
$ENV{DDBM_T_A} = mint();
$ENV{DDBM_T_B} = mint('--client-id', 'clientb');
$ENV{DDBM_T_OTHER_POOL} = mint('--issuer',
    'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool');

no_shuffle();
add_block_preprocessor(\&DdbmModule::preprocess);

# runs first (the last added does): the server's keys and policy (A)
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<'_EOC_' . ($block->http_config // ''));
    ddbm_jwt_jwks       $TEST_NGINX_JWT_JWKS;
    ddbm_jwt_issuer     https://cognito-idp.us-east-1.amazonaws.com/us-east-1_DevPool1;
    ddbm_jwt_client_id  ddbmdevclient;
_EOC_
    $block->set_value('log_level', 'info') if !defined $block->log_level;
});

run_tests();

__DATA__

=== TEST 1: OPTIONS to a guarded proxy_pass: 401 without a token, even a real preflight
--- config
    location = /proxied {
        ddbm_jwt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_backend;
    }
    location = /_backend {
        return 200 "backend\n";
    }
--- request eval
["OPTIONS /proxied", "OPTIONS /proxied", "OPTIONS /proxied", "GET /proxied"]
--- more_headers eval
["",
 "Origin: http://localhost:3000\nAccess-Control-Request-Method: GET\n",
 "Authorization: Bearer $ENV{DDBM_T_A}\n",
 "Authorization: Bearer $ENV{DDBM_T_A}\n"]
--- error_code eval
[401, 401, 200, 200]
--- response_body eval
["{}", "{}", "backend\n", "backend\n"]



=== TEST 2: at a pattern location a real preflight passes without a token, a plain OPTIONS does not
--- config
    location = /api/messages {
        ddbm_jwt on;
        ddbm_pattern post_message;
    }
--- request eval
["OPTIONS /api/messages", "OPTIONS /api/messages", "OPTIONS /api/messages"]
--- more_headers eval
["Origin: http://localhost:3000\nAccess-Control-Request-Method: POST\nAccess-Control-Request-Headers: authorization, content-type\n",
 "",
 "Origin: http://localhost:3000\n"]
--- error_code eval
[200, 401, 401]
--- response_headers eval
["Access-Control-Allow-Origin: http://localhost:3000\nAccess-Control-Allow-Headers: Content-Type, Authorization, Idempotency-Key",
 "WWW-Authenticate: Bearer",
 "WWW-Authenticate: Bearer"]
--- response_body eval
["", "{}", "{}"]



=== TEST 3: a verdict under the server's client (A) does not hold for a location's (B)
--- config
    set $early $ddbm_jwt_sub;

    location = /b {
        ddbm_jwt on;
        ddbm_jwt_client_id clientb;
        add_header X-Early "[$early]" always;
        add_header X-Sub "[$ddbm_jwt_sub]" always;
        empty_gif;
    }
--- request eval
["GET /b", "GET /b"]
--- more_headers eval
["Authorization: Bearer $ENV{DDBM_T_A}\n",
 "Authorization: Bearer $ENV{DDBM_T_B}\n"]
--- error_code eval
[401, 200]
--- response_headers eval
["X-Early: [71c568d1-29bb-4ae1-92c5-057d12db82cb]\nX-Sub: []\nWWW-Authenticate: Bearer error=\"invalid_token\", error_description=\"wrong client\"",
 "X-Early: []\nX-Sub: [71c568d1-29bb-4ae1-92c5-057d12db82cb]\nContent-Type: image/gif"]



=== TEST 4: nor for a location with another issuer
--- config
    set $early $ddbm_jwt_sub;

    location = /pool {
        ddbm_jwt on;
        ddbm_jwt_issuer https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool;
        add_header X-Early "[$early]" always;
        empty_gif;
    }
--- request eval
["GET /pool", "GET /pool"]
--- more_headers eval
["Authorization: Bearer $ENV{DDBM_T_A}\n",
 "Authorization: Bearer $ENV{DDBM_T_OTHER_POOL}\n"]
--- error_code eval
[401, 200]
--- response_headers eval
["X-Early: [71c568d1-29bb-4ae1-92c5-057d12db82cb]\nWWW-Authenticate: Bearer error=\"invalid_token\", error_description=\"wrong issuer\"",
 "X-Early: []\nContent-Type: image/gif"]



=== TEST 5: nor across requests (the worker's cache): A's token at /a, then at /b
--- config
    location = /a {
        ddbm_jwt on;
        empty_gif;
    }
    location = /b {
        ddbm_jwt on;
        ddbm_jwt_client_id clientb;
        empty_gif;
    }
--- request eval
["GET /a", "GET /b", "GET /a"]
--- more_headers eval
["Authorization: Bearer $ENV{DDBM_T_A}\n",
 "Authorization: Bearer $ENV{DDBM_T_A}\n",
 "Authorization: Bearer $ENV{DDBM_T_A}\n"]
--- error_code eval
[200, 401, 200]
