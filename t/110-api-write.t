# Writes: POST /api/messages, to an existing conversation and to start
# one; every validation code, malformed and oversized bodies, wrong types,
# membership.  What the module writes is read back through the API here
# and through the CLI at the end.

use Test::Nginx::Socket 'no_plan';
use Test::More;
use DdbmTest;
use DdbmModule;

my $table = ddbm_fresh_table('ddbm_t110');
seed_table();

no_shuffle();
add_block_preprocessor(\&DdbmModule::preprocess);

run_tests();

# what the module wrote, read with the reference-style tools
my $out = ddbm_cli('--table', $table, 'get-conversation',
                   $DdbmModule::GROUP, '--limit', '20');
like($out, qr/^bayko\s+\d{4}-\d\d-\d\d \d\d:\d\d [AP]M\s+posted by the module\.\.\.$/m,
     'CLI get-conversation reads the message the module wrote');
like($out, qr/^andrewbrown\s+.*\s+r\xc3\xa9ponse \xe2\x9c\x93 with "quotes"\.\.\.$/m,
     'CLI get-conversation reads non-ASCII and quotes back');
$out = ddbm_cli('--table', $table, 'list-conversations', 'andrewbrown');
like($out, qr/\blondo\s+[0-9a-f-]{36}\s+hello andrew, it's londo\.\.\./,
     'CLI list-conversations shows the conversation the module started');
like($out, qr/\bbayko\s+5ae290ed-55d1-47a0-bc6d-fe2bc2700399\s+(?:\xe2\x9c\x93){40}\.\.\./,
     "CLI list-conversations shows the moved row's last message");
is(scalar(() = $out =~ /5ae290ed-55d1-47a0-bc6d-fe2bc2700399/g), 1,
   'one row per conversation for andrewbrown after several posts');

__DATA__

=== TEST 1: post to an existing conversation: the reference's answer
--- request
POST /api/messages
{"message":"posted by the module","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}
--- more_headers
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801
--- response_headers
Content-Type: application/json
--- response_body_like eval
DdbmModule::json_re('{"message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","uuid":"1c57dab3-621d-431c-b55d-de5cf7274595","display_name":"Andrew Bayko","handle":"bayko","message":"posted by the module","created_at":"<TIME>"}')
--- no_error_log
[error]



=== TEST 2: the other participant reads it at once
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399?limit=2
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- response_body_like eval
DdbmModule::json_re('[{"uuid":"<UUID>","display_name":"Andrew Bayko","handle":"bayko","message":"Then let\'s point wrk at it tonight and compare with the Flask numbers.","created_at":"2026-11-20T10:11:00.000000+00:00"},{"uuid":"<UUID>","display_name":"Andrew Bayko","handle":"bayko","message":"posted by the module","created_at":"<TIME>"}]')



=== TEST 3: both conversation rows moved to the new last message
--- request eval
["GET /api/message_groups", "GET /api/message_groups"]
--- more_headers eval
["X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb",
 "X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801"]
--- response_body_like eval
[DdbmModule::json_re('[{"uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","display_name":"Andrew Bayko","handle":"bayko","message":"posted by the module","created_at":"<TIME>"}]'),
 DdbmModule::json_re('[{"uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","display_name":"Andrew Brown","handle":"andrewbrown","message":"posted by the module","created_at":"<TIME>"}]')]



=== TEST 4: a reply with non-ASCII text and quotes
--- request
POST /api/messages
{"message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","message":"r\u00e9ponse ✓ with \"quotes\""}
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- response_body_like eval
DdbmModule::json_re('{"message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","uuid":"6f4736eb-c53a-4877-968e-ae8957f9383e","display_name":"Andrew Brown","handle":"andrewbrown","message":"r' . "\xc3\xa9" . 'ponse ' . "\xe2\x9c\x93" . ' with \"quotes\"","created_at":"<TIME>"}')



=== TEST 5: start a conversation by handle
--- request
POST /api/messages
{"message":"hello andrew, it's londo","handle":"andrewbrown"}
--- more_headers
X-Test-Sub: 7d62a217-66bb-4d2e-be24-ddb1b04128f9
--- response_body_like eval
DdbmModule::json_re('{"message_group_uuid":"<UUID>","uuid":"69fca161-0a2d-4422-84aa-6a29d877f66e","display_name":"Londo Mollari","handle":"londo","message":"hello andrew, it\'s londo","created_at":"<TIME>"}')
--- no_error_log
[error]



=== TEST 6: the receiver sees the new conversation first
--- request
GET /api/message_groups
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- response_body_like eval
DdbmModule::json_re('[{"uuid":"<UUID>","display_name":"Londo Mollari","handle":"londo","message":"hello andrew, it\'s londo","created_at":"<TIME>"},{"uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","display_name":"Andrew Bayko","handle":"bayko","message":"r' . "\xc3\xa9" . 'ponse ' . "\xe2\x9c\x93" . ' with \"quotes\"","created_at":"<TIME>"}]')



=== TEST 7: the sender sees it too
--- request
GET /api/message_groups
--- more_headers
X-Test-Sub: 7d62a217-66bb-4d2e-be24-ddb1b04128f9
--- response_body_like eval
DdbmModule::json_re('[{"uuid":"<UUID>","display_name":"Andrew Brown","handle":"andrewbrown","message":"hello andrew, it\'s londo","created_at":"<TIME>"}]')



=== TEST 8: every failing check is reported (existing conversation)
--- request eval
["POST /api/messages\n" . '{"message":"","message_group_uuid":""}',
 "POST /api/messages\n" . '{"message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}',
 "POST /api/messages\n" . '{"message":"' . ('x' x 1025) . '","message_group_uuid":"not-a-uuid"}',
 "POST /api/messages\n" . '{"message":"x","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399#MSG#x"}']
--- more_headers
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801
--- error_code eval
[422, 422, 422, 422]
--- response_body eval
['["message_blank","message_group_uuid_blank"]',
 '["message_blank"]',
 '["message_exceed_max_chars","message_group_uuid_invalid"]',
 '["message_group_uuid_invalid"]']



=== TEST 9: every failing check is reported (new conversation)
--- request eval
["POST /api/messages\n" . '{"message":"","handle":""}',
 "POST /api/messages\n" . '{"message":"hi"}',
 "POST /api/messages\n" . '{"message":"hi","handle":"nobody"}',
 "POST /api/messages\n" . '{"message":"hi","handle":"and#rew"}',
 "POST /api/messages\n" . '{"message":"hi","handle":"BAYKO"}']
--- more_headers
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801
--- error_code eval
[422, 422, 422, 422, 422]
--- response_body eval
['["message_blank","user_reciever_handle_blank"]',
 '["user_reciever_handle_blank"]',
 '["user_receiver_not_found"]',
 '["user_receiver_not_found"]',
 '["user_receiver_is_sender"]']



=== TEST 10: 1024 characters is the limit, counted in characters
--- request eval
["POST /api/messages\n" . '{"message":"' . ("\xc3\xa9" x 1024) . '","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}',
 "POST /api/messages\n" . '{"message":"' . ("\xc3\xa9" x 1025) . '","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}']
--- more_headers
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801
--- error_code eval
[200, 422]
--- response_body_like eval
[qr/^\{"message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399",/,
 qr/^\["message_exceed_max_chars"\]$/]



=== TEST 11: malformed JSON, wrong types, not an object, no body: 400
--- request eval
["POST /api/messages\n" . '{"message": "x", ',
 "POST /api/messages\n" . '{"message":42,"message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}',
 "POST /api/messages\n" . '{"message":"x","message_group_uuid":["5ae290ed-55d1-47a0-bc6d-fe2bc2700399"]}',
 "POST /api/messages\n" . '{"message":"x","handle":7}',
 "POST /api/messages\n" . '["message"]',
 "POST /api/messages",
 "POST /api/messages\n" . '{"message":"a","message":"b","handle":"bayko"}',
 "POST /api/messages\n" . "{\"message\":\"\xff\xfe\",\"handle\":\"bayko\"}",
 "POST /api/messages\n" . '{"message":"a\u0000b","handle":"bayko"}']
--- more_headers
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801
--- error_code eval
[400, 400, 400, 400, 400, 400, 400, 400, 400]
--- response_body eval
['{"error":"malformed_json","message":"the body is not valid JSON"}',
 '{"error":"invalid_type","message":"message must be a string"}',
 '{"error":"invalid_type","message":"message_group_uuid must be a string"}',
 '{"error":"invalid_type","message":"handle must be a string"}',
 '{"error":"body_not_object","message":"the body must be a JSON object"}',
 '{"error":"body_required","message":"a JSON object is required"}',
 '{"error":"malformed_json","message":"the body is not valid JSON"}',
 '{"error":"malformed_json","message":"the body is not valid JSON"}',
 '{"error":"malformed_json","message":"the body is not valid JSON"}']
--- no_error_log
[error]



=== TEST 12: an oversized body: 413, by Content-Length and when chunked
--- request eval
["POST /api/messages\n" . '{"message":"' . ('x' x 20000) . '","handle":"bayko"}']
--- more_headers
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801
--- error_code: 413
--- response_body chomp
{"error":"body_too_large","message":"request body is too large"}



=== TEST 13: an oversized chunked body: 413
--- raw_request eval
my $body = '{"message":"' . ('y' x 20000) . '","handle":"bayko"}';
"POST /api/messages HTTP/1.1\r
Host: localhost\r
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801\r
Transfer-Encoding: chunked\r
Connection: close\r
\r
" . sprintf("%x\r\n", length $body) . $body . "\r\n0\r\n\r\n"
--- error_code: 413
--- response_body chomp
{"error":"body_too_large","message":"request body is too large"}



=== TEST 14: a body kept in a temp file is read from there
--- config
    client_body_buffer_size 512;
    location = /api/messages {
        ddbm_pattern post_message;
    }
--- request eval
"POST /api/messages\n" . '{"message":"' . ("\xe2\x9c\x93" x 1000) . ' from a temp file","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}'
--- more_headers
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801
--- response_body_like: \xe2\x9c\x93 from a temp file","created_at":"
--- error_log
a client request body is buffered to a temporary file



=== TEST 15: a non-participant cannot post
--- request
POST /api/messages
{"message":"let me in","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}
--- more_headers
X-Test-Sub: 7d62a217-66bb-4d2e-be24-ddb1b04128f9
--- error_code: 403
--- response_body chomp
{"error":"not_a_participant","message":"only the conversation's participants may read or post to it"}



=== TEST 16: posting to an unknown conversation
--- request
POST /api/messages
{"message":"anyone?","message_group_uuid":"0b2e2b8e-1f7a-4c39-9a55-0d3c2a5e9f10"}
--- more_headers
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801
--- error_code: 404
--- response_body chomp
{"error":"conversation_not_found","message":"no such conversation"}



=== TEST 17: no identity: 401 {} before the body is looked at
--- request
POST /api/messages
{"message":"x","handle":"bayko"}
--- error_code: 401
--- response_body chomp
{}



=== TEST 18: a wrong method on the POST route: 405
--- request
GET /api/messages
--- more_headers
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801
--- error_code: 405
--- response_headers
Allow: POST, OPTIONS



=== TEST 19: a malformed Idempotency-Key: 400
--- request
POST /api/messages
{"message":"x","handle":"andrewbrown"}
--- more_headers
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801
Idempotency-Key: 
--- error_code: 400
--- response_body chomp
{"error":"invalid_idempotency_key","message":"Idempotency-Key must be 1 to 255 printable ASCII characters"}
