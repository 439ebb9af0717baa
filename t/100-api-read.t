# Reads: GET /api/message_groups, GET /api/messages/<uuid>,
# GET /api/users/@<handle>/short, /health; identity, membership, paging,
# CORS, methods.  Data: `ddbm seed` (the reference's layout, no module
# items), so this also shows reference-written data served unchanged.

use Test::Nginx::Socket 'no_plan';
use DdbmTest;
use DdbmModule;

ddbm_fresh_table('ddbm_t100');
seed_table();

no_shuffle();
add_block_preprocessor(\&DdbmModule::preprocess);

run_tests();

__DATA__

=== TEST 1: health: DescribeTable reaches DynamoDB
--- request
GET /health
--- response_headers
Content-Type: application/json
--- response_body eval
qq({"status":"ok","table":"$ENV{TEST_NGINX_DDB_TABLE}"})
--- no_error_log
[error]



=== TEST 2: list conversations: the other participant, the last message
--- request
GET /api/message_groups
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- response_headers
Content-Type: application/json
!X-Next-Cursor
--- response_body chomp
[{"uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","display_name":"Andrew Bayko","handle":"bayko","message":"Then let's point wrk at it tonight and compare with the Flask numbers.","created_at":"2026-11-20T10:11:00.000000+00:00"}]
--- no_error_log
[error]



=== TEST 3: list conversations: the other side sees andrewbrown
--- request
GET /api/message_groups
--- more_headers
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801
--- response_body chomp
[{"uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","display_name":"Andrew Brown","handle":"andrewbrown","message":"Then let's point wrk at it tonight and compare with the Flask numbers.","created_at":"2026-11-20T10:11:00.000000+00:00"}]



=== TEST 4: list conversations: none yet
--- request
GET /api/message_groups
--- more_headers
X-Test-Sub: 7d62a217-66bb-4d2e-be24-ddb1b04128f9
--- response_body chomp
[]



=== TEST 5: list messages: all twelve, oldest first, every field
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- response_headers
Content-Type: application/json
!X-Next-Cursor
--- response_body_like eval
DdbmModule::json_re(DdbmModule::seed_messages_json(0, 11))
--- no_error_log
[error]



=== TEST 6: list messages: the other participant reads the same
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399
--- more_headers
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801
--- response_body_like eval
DdbmModule::json_re(DdbmModule::seed_messages_json(0, 11))



=== TEST 7: paging: the newest five, and a cursor
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399?limit=5
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- response_headers
X-Next-Cursor: 2026-11-20T10:07:00.000000+00:00
--- response_body_like eval
DdbmModule::json_re(DdbmModule::seed_messages_json(7, 11))



=== TEST 8: paging: the cursor gives the five before
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399?limit=5&cursor=2026-11-20T10%3A07%3A00.000000%2B00%3A00
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- response_headers
X-Next-Cursor: 2026-11-20T10:02:00.000000+00:00
--- response_body_like eval
DdbmModule::json_re(DdbmModule::seed_messages_json(2, 6))



=== TEST 9: paging: the last page has no cursor
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399?limit=5&cursor=2026-11-20T10:02:00.000000%2B00:00
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- response_headers
!X-Next-Cursor
--- response_body_like eval
DdbmModule::json_re(DdbmModule::seed_messages_json(0, 1))



=== TEST 9b: a page is read once: the answer streams it
The rewrite is the only pass over the page: its step's answer is not
also read item by item (the caller's, which a check reads, is).
--- log_level: debug
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399?limit=5
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- response_headers
X-Next-Cursor: 2026-11-20T10:07:00.000000+00:00
--- response_body_like eval
DdbmModule::json_re(DdbmModule::seed_messages_json(7, 11))
--- error_log
ddbm: step "caller": its answer read item by item
--- no_error_log
ddbm: step "page": its answer read item by item
[error]



=== TEST 9c: a list of conversations is read once too
--- log_level: debug
--- request
GET /api/message_groups
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- response_body_like: ^\[\{"uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399",
--- error_log
ddbm: step "caller": its answer read item by item
--- no_error_log
ddbm: step "rows": its answer read item by item
[error]



=== TEST 10: paging: conversations too
--- request
GET /api/message_groups?limit=1
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- response_headers
X-Next-Cursor: 2026-11-20T10:11:00.000000+00:00
--- response_body_like chomp
^\[\{"uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399",



=== TEST 11: a non-participant cannot read
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399
--- more_headers
X-Test-Sub: 7d62a217-66bb-4d2e-be24-ddb1b04128f9
--- error_code: 403
--- response_body chomp
{"error":"not_a_participant","message":"only the conversation's participants may read or post to it"}
--- error_log
is not a member of conversation
--- no_error_log
[error]



=== TEST 12: an unknown conversation
--- request
GET /api/messages/0b2e2b8e-1f7a-4c39-9a55-0d3c2a5e9f10
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code: 404
--- response_body chomp
{"error":"conversation_not_found","message":"no such conversation"}



=== TEST 13: a malformed conversation id never reaches a key
--- request eval
[
  "GET /api/messages/not-a-uuid",
  "GET /api/messages/5AE290ED-55D1-47A0-BC6D-FE2BC2700399",
  "GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc270039%23",
  "GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399%0a",
  "GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399x",
]
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code eval
[404, 404, 404, 404, 404]
--- response_body eval
[ ('{"error":"conversation_not_found","message":"no such conversation: not a message_group_uuid"}') x 5 ]



=== TEST 14: no identity: 401 {}
--- request
GET /api/message_groups
--- error_code: 401
--- response_body chomp
{}
--- error_log
ddbm: no identity, answered 401



=== TEST 15: a malformed identity: 401 {}
--- request
GET /api/message_groups
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb#GRP
--- error_code: 401
--- response_body chomp
{}
--- error_log
ddbm: malformed identity, answered 401



=== TEST 16: an identity that is not in the user directory: 401 {}
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399
--- more_headers
X-Test-Sub: 00000000-0000-4000-8000-000000000000
--- error_code: 401
--- response_body chomp
{}
--- error_log
is not in the user directory, answered 401



=== TEST 17: bad page arguments: 400
--- request eval
[
  "GET /api/message_groups?limit=0",
  "GET /api/message_groups?limit=101",
  "GET /api/message_groups?limit=ten",
  "GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399?cursor=yesterday",
  "GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399?cursor=2026-11-20T10:07:00.000000%2B00:00%23x",
]
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body_like eval
[qr/"invalid_limit"/, qr/"invalid_limit"/, qr/"invalid_limit"/,
 qr/"invalid_cursor"/, qr/"invalid_cursor"/]



=== TEST 18: a wrong method: 405 with Allow
--- request
DELETE /api/message_groups
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code: 405
--- response_headers
Allow: GET, HEAD, OPTIONS
Content-Type: application/json
--- response_body chomp
{"error":"method_not_allowed","message":"method not allowed here"}



=== TEST 19: CORS preflight, as the reference answers it
--- request
OPTIONS /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399
--- more_headers
Origin: http://localhost:3000
Access-Control-Request-Method: GET
Access-Control-Request-Headers: authorization
--- error_code: 200
--- response_headers
Access-Control-Allow-Origin: http://localhost:3000
Access-Control-Allow-Headers: Content-Type, Authorization, Idempotency-Key
Access-Control-Allow-Methods: OPTIONS, GET, HEAD, POST
Vary: Origin
--- response_body



=== TEST 20: CORS: another origin gets no grant
--- request
OPTIONS /api/message_groups
--- more_headers
Origin: http://evil.example
--- error_code: 200
--- response_headers
!Access-Control-Allow-Origin
!Access-Control-Allow-Headers



=== TEST 21: CORS headers on an answer
--- request
GET /api/message_groups
--- more_headers
Origin: http://localhost:3000
X-Test-Sub: 7d62a217-66bb-4d2e-be24-ddb1b04128f9
--- response_headers
Access-Control-Allow-Origin: http://localhost:3000
Access-Control-Expose-Headers: Authorization, WWW-Authenticate, X-Next-Cursor
--- response_body chomp
[]



=== TEST 21b: Vary: Origin on an answer without Origin
(a cache must not give it to a browser of an allowed origin, nor the other way)
--- request
GET /api/message_groups
--- more_headers
X-Test-Sub: 7d62a217-66bb-4d2e-be24-ddb1b04128f9
--- response_headers
Vary: Origin
!Access-Control-Allow-Origin
--- response_body chomp
[]



=== TEST 21c: Vary: Origin on an answer to an origin that is not allowed
--- request
GET /api/message_groups
--- more_headers
Origin: http://evil.example
X-Test-Sub: 7d62a217-66bb-4d2e-be24-ddb1b04128f9
--- response_headers
Vary: Origin
!Access-Control-Allow-Origin
--- response_body chomp
[]



=== TEST 21d: Vary: Origin on errors, with or without Origin
--- request eval
["GET /api/message_groups", "GET /api/message_groups",
 "DELETE /api/message_groups"]
--- more_headers eval
["", "Origin: http://localhost:3000",
 "Origin: http://evil.example\nX-Test-Sub: 7d62a217-66bb-4d2e-be24-ddb1b04128f9"]
--- error_code eval
[401, 401, 405]
--- response_headers eval
["Vary: Origin", "Vary: Origin", "Vary: Origin"]



=== TEST 21e: Vary: Origin on a preflight from an origin that is not allowed
--- request
OPTIONS /api/message_groups
--- more_headers
Origin: http://evil.example
Access-Control-Request-Method: GET
--- error_code: 200
--- response_headers
Vary: Origin
!Access-Control-Allow-Origin



=== TEST 21f: Vary: Origin on NGINX's own answers (limit_req's 429) once
--- http_config
    limit_req_zone $binary_remote_addr zone=t100:1m rate=1r/m;
    limit_req_status 429;
--- config
    location = /api/message_groups {
        limit_req zone=t100;
        include $TEST_NGINX_DDBM_ROUTES/list_conversations.conf;
    }
--- request eval
["GET /api/message_groups", "GET /api/message_groups"]
--- more_headers
X-Test-Sub: 7d62a217-66bb-4d2e-be24-ddb1b04128f9
--- error_code eval
[200, 429]
--- response_headers eval
["Vary: Origin", "Vary: Origin"]
--- raw_response_headers_unlike eval
[qr/Vary: Origin.*Vary: Origin/s, qr/Vary: Origin.*Vary: Origin/s]



=== TEST 22: user short, case-insensitive handle
--- request eval
["GET /api/users/\@bayko/short", "GET /api/users/\@BayKo/short"]
--- response_body eval
[('{"uuid":"1c57dab3-621d-431c-b55d-de5cf7274595","handle":"bayko","display_name":"Andrew Bayko"}') x 2]



=== TEST 23: user short: unknown and impossible handles
--- request eval
["GET /api/users/\@nobody/short", "GET /api/users/\@no%23body/short",
 "GET /api/users/\@a%09b/short"]
--- error_code eval
[404, 404, 404]
--- response_body eval
[('{"error":"user_not_found","message":"no user has this handle"}') x 3]



=== TEST 24: HEAD: headers only
--- request
HEAD /api/message_groups
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- response_headers
Content-Type: application/json
--- response_body
