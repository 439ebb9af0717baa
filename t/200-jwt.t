# Caller identity from Cognito access tokens (ngx_http_ddbm_jwt_module):
# a valid token reaches every API route, and every kind of bad token gets
# 401 {} with WWW-Authenticate, an info line saying why, and never the
# token in the log.  Keys and tokens come from the CLI (dev-keys,
# mint-token) or are forged here; the key set holds two keys (rotation).
#
# Tokens live in %ENV (DDBM_T_*): `--- more_headers eval` reads them under
# our runner and the real Test::Nginx alike.

use Test::Nginx::Socket 'no_plan';
use DdbmTest;
use DdbmModule;
use File::Temp qw(tempdir);
use MIME::Base64 qw(encode_base64url decode_base64url);
use Digest::SHA qw(hmac_sha256);
use JSON::PP ();

my $table = ddbm_fresh_table('ddbm_t200');
seed_table();

my $dir = tempdir('ddbm-jwt-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $ISS = 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_DevPool1';

for my $k (1 .. 3) {
    ddbm_cli('dev-keys', '--dir', "$dir/k$k", '--kid', "key-$k");
}

# the user pool's key set during a rotation: keys 1 and 2 (3 is unknown)
sub slurp { open my $f, '<', $_[0] or die "$_[0]: $!"; local $/; <$f> }
my $json = JSON::PP->new->canonical;
my @keys = map { @{ $json->decode(slurp("$dir/k$_/jwks.json"))->{keys} } }
           1 .. 2;
open my $out, '>', "$dir/jwks.json" or die $!;
print $out $json->encode({ keys => \@keys });
close $out;
$ENV{TEST_NGINX_JWT_JWKS} = "$dir/jwks.json";

sub mint {
    my $t = ddbm_cli('--table', $table, 'mint-token', @_);
    $t =~ s/\s+\z//;
    die "mint-token printed no token: $t\n" if $t !~ /^[\w-]+\.[\w-]+\.[\w-]+$/;
    return $t;
}

sub tok { $ENV{"DDBM_T_$_[0]"} = $_[1] }

my %SUB = %DdbmModule::SUB;

tok(ANDREW => mint('--dir', "$dir/k1", '--handle', 'andrewbrown'));
tok(BAYKO  => mint('--dir', "$dir/k2", '--handle', 'bayko'));
tok(OTHER_CLIENT => mint('--dir', "$dir/k1", '--sub', $SUB{londo},
                         '--client-id', 'otherclient'));
tok(EXPIRED => mint('--dir', "$dir/k1", '--sub', $SUB{andrewbrown},
                    '--iat', '-7200', '--exp', '-120'));
tok(IN_LEEWAY => mint('--dir', "$dir/k1", '--sub', $SUB{andrewbrown},
                      '--iat', '-3600', '--exp', '-30'));
tok(NBF_FUTURE => mint('--dir', "$dir/k1", '--sub', $SUB{andrewbrown},
                       '--nbf', '+600'));
tok(IAT_FUTURE => mint('--dir', "$dir/k1", '--sub', $SUB{andrewbrown},
                       '--iat', '+600', '--exp', '+4200'));
tok(WRONG_ISS => mint('--dir', "$dir/k1", '--sub', $SUB{andrewbrown},
                      '--issuer', 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other'));
tok(WRONG_CLIENT => mint('--dir', "$dir/k1", '--sub', $SUB{andrewbrown},
                         '--client-id', 'evilclient'));
tok(ID_TOKEN => mint('--dir', "$dir/k1", '--sub', $SUB{andrewbrown},
                     '--token-use', 'id'));
tok(NO_SUB => mint('--dir', "$dir/k1", '--sub', $SUB{andrewbrown},
                   '--omit', 'sub'));
tok(UNKNOWN_KID => mint('--dir', "$dir/k3", '--sub', $SUB{andrewbrown}));
tok(KID_OF_OTHER_KEY => mint('--dir', "$dir/k3", '--sub', $SUB{andrewbrown},
                             '--kid', 'key-1'));

# forged from a good token
my ($h, $p, $s) = split /\./, $ENV{DDBM_T_ANDREW};
my $claims = $json->decode(decode_base64url($p));
my $hdr = sub { encode_base64url($json->encode({ kid => 'key-1', @_ })) };

{
    my %c = (%$claims, sub => $SUB{bayko});
    tok(TAMPERED_PAYLOAD => "$h." . encode_base64url($json->encode(\%c))
                            . ".$s");
    my $sig = decode_base64url($s);
    substr($sig, 100, 1) = chr(ord(substr($sig, 100, 1)) ^ 1);
    tok(TAMPERED_SIGNATURE => "$h.$p." . encode_base64url($sig));
    tok(ALG_NONE => $hdr->(alg => 'none') . ".$p.");

    # HMAC "verification" with the public key as the secret: the classic
    # algorithm confusion, with the PEM and with the JWKS text
    for my $secret (['PEM', slurp("$dir/k1/public.pem")],
                    ['JWKS', slurp("$ENV{TEST_NGINX_JWT_JWKS}")])
    {
        my $in = $hdr->(alg => 'HS256') . ".$p";
        tok("HS256_$secret->[0]" => "$in."
            . encode_base64url(hmac_sha256($in, $secret->[1])));
    }

    tok(B64_ALPHABET => "$h.$p." . ($s =~ tr/-_/+\//r));
    tok(B64_PADDED => "$h=.$p.$s");
    tok(B64_GARBAGE => "$h.\$\$\$\$.$s");
    tok(HEADER_NOT_JSON => encode_base64url('{"kid":"key-1","alg":"RS256"')
                           . ".$p.$s");
    tok(TWO_PARTS => "$h.$p");
    tok(OVERSIZED => 'A' x 9000);
}

# the parts of a token, as error_log patterns that must not match
sub token_parts { [ grep { length >= 8 } split /\./, $ENV{"DDBM_T_$_[0]"} ] }

no_shuffle();
add_block_preprocessor(\&DdbmModule::preprocess);

my $http_config = <<'_EOC_';
    ddbm_jwt_jwks       $TEST_NGINX_JWT_JWKS;
    ddbm_jwt_issuer     https://cognito-idp.us-east-1.amazonaws.com/us-east-1_DevPool1;
    ddbm_jwt_client_id  ddbmdevclient otherclient;
_EOC_

my $config = <<'_EOC_';
    ddbm_jwt       on;
    ddbm_identity  $ddbm_jwt_sub;

    location = /jwt {
        add_header X-Sub $ddbm_jwt_sub always;
        add_header X-Username $ddbm_jwt_username always;
        add_header X-Client-Id $ddbm_jwt_client_id always;
        empty_gif;
    }
_EOC_

# runs before DdbmModule::preprocess (the last added runs first); a block
# with "--- bad_token: NAME reason" gets the whole refusal check
add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config',
                      $http_config . ($block->http_config // ''));

    if (!defined $block->config) {
        $block->set_value('config', $config . ddbm_api_config());
    }

    my $bad = $block->bad_token;
    return if !defined $bad;

    $bad =~ s/^\s+|\s+$//g;
    my ($name, $reason) = split /\s+/, $bad, 2;
    die "no token $name\n" if !defined $ENV{"DDBM_T_$name"};

    $block->set_value('request', "GET /jwt\n") if !defined $block->request;
    $block->set_value('more_headers',
                      "Authorization: Bearer $ENV{\"DDBM_T_$name\"}\n");
    $block->set_value('error_code', 401);
    $block->set_value('response_headers',
        "Content-Type: application/json\n"
        . qq{WWW-Authenticate: Bearer error="invalid_token", }
        . qq{error_description="$reason"\n});
    $block->set_value('response_body', '{}');
    $block->set_value('log_level', 'info');
    $block->set_value('error_log', "ddbm_jwt: token refused: $reason (");
    $block->set_value('no_error_log', [ @{ token_parts($name) }, '[error]' ]);
});

run_tests();

__DATA__

=== TEST 1: a valid token: the claims in the variables
--- request
GET /jwt
--- more_headers eval
"Authorization: Bearer $ENV{DDBM_T_ANDREW}"
--- response_headers
X-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
X-Username: andrewbrown
X-Client-Id: ddbmdevclient
Content-Type: image/gif
--- log_level: info
--- no_error_log eval
[ @{ main::token_parts('ANDREW') }, '[error]' ]



=== TEST 2: the same token again (from the cache) and the scheme in any case
--- request eval
["GET /jwt", "GET /jwt"]
--- more_headers eval
["Authorization: Bearer $ENV{DDBM_T_ANDREW}",
 "Authorization: bEaReR   $ENV{DDBM_T_ANDREW}  "]
--- response_headers eval
["X-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb",
 "X-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb"]
--- no_error_log
[error]



=== TEST 3: the second key of the set, the second app client
--- request eval
["GET /jwt", "GET /jwt"]
--- more_headers eval
["Authorization: Bearer $ENV{DDBM_T_BAYKO}",
 "Authorization: Bearer $ENV{DDBM_T_OTHER_CLIENT}"]
--- response_headers eval
["X-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801\nX-Username: bayko",
 "X-Sub: 7d62a217-66bb-4d2e-be24-ddb1b04128f9\nX-Client-Id: otherclient"]



=== TEST 4: expired within the leeway (60 s by default): accepted
--- request
GET /jwt
--- more_headers eval
"Authorization: Bearer $ENV{DDBM_T_IN_LEEWAY}"
--- response_headers
X-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb



=== TEST 5: list conversations with a token (key 1)
--- request
GET /api/message_groups
--- more_headers eval
"Authorization: Bearer $ENV{DDBM_T_ANDREW}"
--- response_headers
Content-Type: application/json
--- response_body_like: ^\[\{"uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","display_name":"Andrew Bayko","handle":"bayko",
--- no_error_log
[error]



=== TEST 6: list messages with a token (key 2)
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399?limit=1
--- more_headers eval
"Authorization: Bearer $ENV{DDBM_T_BAYKO}"
--- response_body_like: ^\[\{"uuid":"[0-9a-f-]{36}","display_name":"Andrew Bayko","handle":"bayko","message":"Then let's point wrk
--- no_error_log
[error]



=== TEST 7: post a message with a token
--- request
POST /api/messages
{"message":"sent with a token","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}
--- more_headers eval
"Authorization: Bearer $ENV{DDBM_T_ANDREW}\nContent-Type: application/json"
--- response_body_like: ^\{"message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","uuid":"6f4736eb-c53a-4877-968e-ae8957f9383e","display_name":"Andrew Brown","handle":"andrewbrown","message":"sent with a token",
--- no_error_log
[error]



=== TEST 8: start a conversation with a token
--- request
POST /api/messages
{"message":"hello londo","handle":"londo"}
--- more_headers eval
"Authorization: Bearer $ENV{DDBM_T_ANDREW}\nContent-Type: application/json"
--- response_body_like: ^\{"message_group_uuid":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
--- no_error_log
[error]



=== TEST 9: no token on an API route: 401 {} and a plain Bearer challenge
--- request
GET /api/message_groups
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer
--- response_body: {}
--- log_level: info
--- error_log
ddbm_jwt: no bearer token, answered 401



=== TEST 10: another scheme is no bearer token
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399
--- more_headers
Authorization: Basic YW5kcmV3YnJvd246c2VjcmV0
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body: {}
--- log_level: info
--- error_log
ddbm_jwt: no bearer token: another authorization scheme
--- no_error_log
YW5kcmV3YnJvd246c2VjcmV0



=== TEST 10b: a 401 carries CORS headers, so the frontend can see it
--- request
GET /api/message_groups
--- more_headers
Origin: http://localhost:3000
--- error_code: 401
--- response_headers
Access-Control-Allow-Origin: http://localhost:3000
Vary: Origin
Access-Control-Expose-Headers: Authorization, WWW-Authenticate, X-Next-Cursor
WWW-Authenticate: Bearer
--- response_body: {}



=== TEST 11: a CORS preflight passes without a token
--- request
OPTIONS /api/messages
--- more_headers
Origin: http://localhost:3000
Access-Control-Request-Method: POST
Access-Control-Request-Headers: authorization, content-type
--- response_headers
Access-Control-Allow-Origin: http://localhost:3000
Access-Control-Allow-Headers: Content-Type, Authorization, Idempotency-Key
--- response_body:



=== TEST 12: a bad token on an API route never reaches DynamoDB
--- request
POST /api/messages
{"message":"forged","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}
--- bad_token: TAMPERED_PAYLOAD bad signature



=== TEST 13: expired
--- bad_token: EXPIRED expired



=== TEST 14: not yet valid (nbf in the future)
--- bad_token: NBF_FUTURE not yet valid



=== TEST 15: issued in the future (iat)
--- bad_token: IAT_FUTURE issued in the future



=== TEST 16: wrong issuer (another user pool)
--- bad_token: WRONG_ISS wrong issuer



=== TEST 17: wrong app client
--- bad_token: WRONG_CLIENT wrong client



=== TEST 18: an ID token instead of an access token
--- bad_token: ID_TOKEN not an access token



=== TEST 19: no sub
--- bad_token: NO_SUB no subject



=== TEST 20: unknown kid (a key outside the set)
--- bad_token: UNKNOWN_KID unknown kid



=== TEST 21: a known kid over another key's signature
--- bad_token: KID_OF_OTHER_KEY bad signature



=== TEST 22: tampered payload (sub changed to bayko)
--- bad_token: TAMPERED_PAYLOAD bad signature



=== TEST 23: tampered signature (one bit)
--- bad_token: TAMPERED_SIGNATURE bad signature



=== TEST 24: alg none, no signature
--- bad_token: ALG_NONE alg not allowed



=== TEST 25: HS256 keyed with the public key's PEM
--- bad_token: HS256_PEM alg not allowed



=== TEST 26: HS256 keyed with the JWKS text
--- bad_token: HS256_JWKS alg not allowed



=== TEST 27: base64 of the standard alphabet
--- bad_token: B64_ALPHABET malformed



=== TEST 28: base64 padding
--- bad_token: B64_PADDED malformed



=== TEST 29: not base64 at all
--- bad_token: B64_GARBAGE malformed



=== TEST 30: a header that is not JSON
--- bad_token: HEADER_NOT_JSON malformed



=== TEST 31: two parts
--- bad_token: TWO_PARTS malformed



=== TEST 32: an oversized token (within NGINX's header buffers): 401
--- http_config
    large_client_header_buffers 4 16k;
--- bad_token: OVERSIZED too large



=== TEST 33: an oversized Authorization header (beyond them): NGINX's 400
--- request
GET /jwt
--- more_headers eval
"Authorization: Bearer " . ('A' x 9000)
--- error_code: 400
--- response_headers
!WWW-Authenticate



=== TEST 34: "satisfy any": the standard 401 unless another rule allows
--- config
    location = /any {
        satisfy any;
        allow 10.0.0.1;
        deny all;
        ddbm_jwt on;
        empty_gif;
    }
--- request eval
["GET /any", "GET /any"]
--- more_headers eval
["Authorization: Bearer $ENV{DDBM_T_EXPIRED}",
 "Authorization: Bearer $ENV{DDBM_T_ANDREW}"]
--- error_code eval
[401, 200]
--- response_headers eval
['WWW-Authenticate: Bearer error="invalid_token", error_description="expired"',
 "Content-Type: image/gif"]



=== TEST 35: the variables without enforcement: empty for a bad token
--- config
    location = /optional {
        add_header X-Sub "[$ddbm_jwt_sub]" always;
        empty_gif;
    }
--- request eval
["GET /optional", "GET /optional", "GET /optional"]
--- more_headers eval
["Authorization: Bearer $ENV{DDBM_T_ANDREW}",
 "Authorization: Bearer $ENV{DDBM_T_EXPIRED}",
 ""]
--- response_headers eval
["X-Sub: [71c568d1-29bb-4ae1-92c5-057d12db82cb]", "X-Sub: []", "X-Sub: []"]



=== TEST 36: HEAD with a bad token: 401 without a body
--- request
HEAD /jwt
--- more_headers eval
"Authorization: Bearer $ENV{DDBM_T_EXPIRED}"
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token", error_description="expired"
--- response_body:
