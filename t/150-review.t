# Findings of a code review of the module, one block (or more) each; every
# block failed on the module before its fix (e297f2e and after):
#  - a conversation's page is never read for someone who is not a member;
#  - a TransactionCanceledException to a call that is not a transaction is
#    an answer (502 dynamodb_error), not a NULL dereference;
#  - a TransactWriteItems retried after a lost answer is applied once
#    (ClientRequestToken), so a message is stored once;
#  - a transaction canceled by throttling backs off, bounded by
#    ddbm_write_retries, in both POST modes (a lost race likewise);
#  - backoff is capped by ddbm_retries' third argument (that it is full
#    jitter, pauses below half the window, is checked in t/170-metrics.t,
#    where thirty pauses can be looked at together);
#  - a chunked client body is refused once it passes ddbm_body_max, before
#    NGINX buffers it to a file.
# And the AWS SDKs' standard retry mode: a retry quota shared by the
# workers (ddbm_retry_quota), DynamoDB's x-amz-retry-after, and no retry
# past ddbm_request_timeout.
# The configuration bounds (ddbm_write_retries, ddbm_retries) are checked
# with nginx -t in t/151-config.t.

use Test::Nginx::Socket 'no_plan';
use DdbmTest;
use DdbmModule;
use DdbmFake;

ddbm_fresh_table('ddbm_t150');
seed_table();

DdbmFake::start();

my $fake = DdbmFake::location('64k');

log_level('info');
master_on();
check_accum_error_log();
no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    DdbmModule::preprocess($block);
    $block->set_value('config', $fake . $block->config);
});

run_tests();

__DATA__

=== TEST 1: a non-member's read issues no Query of the conversation's messages
londo is not one of the seeded conversation's members: 403, and the
debug log shows the module's calls but no Query of MSG#<group>.  The
member's read in the next block shows the line this check looks for.
--- log_level: debug
--- request eval
["GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399"]
--- more_headers
X-Test-Sub: 7d62a217-66bb-4d2e-be24-ddb1b04128f9
--- error_code: 403
--- response_body eval
q{{"error":"not_a_participant","message":"only the conversation's participants may read or post to it"}}
--- error_log eval
[qr/ddbm: DynamoDB GetItem, attempt 1/]
--- no_error_log eval
[qr/ddbm: DynamoDB Query, attempt \d+, \d+ bytes: .*MSG#/, "[alert]",
 "exited on signal"]



=== TEST 2: a member's read: the Query comes after the membership check
--- log_level: debug
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399?limit=1
--- more_headers
X-Test-Sub: 8fa3c183-b83e-47b8-b41e-68081e5ff801
--- error_code: 200
--- response_body_like eval
qr/"message":"Then let's point wrk at it tonight/
--- error_log eval
[qr/ddbm: DynamoDB Query, attempt 1, \d+ bytes: .*MSG#5ae290ed/]
--- no_error_log eval
["[alert]", "exited on signal"]



=== TEST 3: TransactionCanceledException to a GetItem: 502 dynamodb_error
--- config
    location ~ ^/api/users/@(?<handle>[^/]+)/short$ {
        include $TEST_NGINX_DDBM_ROUTES/user_short.conf;
        ddbm_backend /_fake/GetItem/condition/t3;
    }
--- request
GET /api/users/@bayko/short
--- error_code: 502
--- response_body eval
'{"error":"dynamodb_error","message":"the database call failed"}'
--- error_log eval
[qr/\[error\] .* ddbm: DynamoDB GetItem failed after 1 attempt\(s\): 400 TransactionCanceledException/]
--- no_error_log eval
["[alert]", "exited on signal"]



=== TEST 4: a first post gives the conversation its record
(the seeded conversation has only the reference's rows until then)
--- request
POST /api/messages
{"message":"t150 first","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code: 200
--- response_body_like eval
qr/"message":"t150 first"/
--- no_error_log eval
["[alert]", "exited on signal"]



=== TEST 5: a transaction applied but its answer lost (500): the retry carries the same token, one message
The post's reads and its first TransactWriteItems go to DynamoDB Local
through the fake, which applies the transaction there but answers 500;
the module's retry of the same transaction is relayed too.  Without a
ClientRequestToken the retry fails its revision condition, the module
takes it for a lost race and writes the message a second time.
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/all/real,real,commit-e500,real/t5;
    }
    location ~ ^/api/messages/(?<group>[^/]+)$ {
        include $TEST_NGINX_DDBM_ROUTES/list_messages.conf;
    }
--- request eval
["POST /api/messages\n" . '{"message":"t150 lost answer","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}',
 "GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399"]
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/"message":"t150 lost answer"/, main::once_re("t150 lost answer")]
--- error_log eval
[qr/\[warn\] .* ddbm: DynamoDB TransactWriteItems: 500 InternalServerError, retry 1 in/]
--- no_error_log eval
["changed meanwhile", "[alert]", "exited on signal"]



=== TEST 6: a post whose transaction is throttled every time backs off, then 503 dynamodb_throttled
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/tx/txthrottle/t6;
        ddbm_write_retries 3;
        ddbm_retries 3 2ms;
    }
--- request eval
["POST /api/messages\n" . '{"message":"t150 throttled","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}']
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code: 503
--- response_headers
Retry-After: 1
--- response_body eval
'{"error":"dynamodb_throttled","message":"the database call failed"}'
--- error_log eval
[qr/\[info\] .* ddbm: conversation "5ae290ed-55d1-47a0-bc6d-fe2bc2700399" throttled, writing again in \d+ms \(attempt 2\)/,
 qr/\[info\] .* ddbm: conversation "5ae290ed-55d1-47a0-bc6d-fe2bc2700399" throttled, writing again in \d+ms \(attempt 3\)/,
 qr/\[warn\] .* ddbm: conversation "5ae290ed-55d1-47a0-bc6d-fe2bc2700399" throttled: gave up after 3 attempts/]
--- no_error_log eval
["changed meanwhile", "(attempt 4)", "[alert]", "exited on signal"]



=== TEST 7: a new conversation whose transaction is throttled backs off too
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/tx/txthrottle/t7;
        ddbm_write_retries 2;
        ddbm_retries 3 2ms;
    }
--- request eval
["POST /api/messages\n" . '{"message":"t150 new, throttled","handle":"londo"}']
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code: 503
--- response_body eval
'{"error":"dynamodb_throttled","message":"the database call failed"}'
--- error_log eval
[qr/\[info\] .* ddbm: conversation "[0-9a-f-]{36}" throttled, writing again in \d+ms \(attempt 2\)/,
 qr/\[warn\] .* ddbm: conversation "[0-9a-f-]{36}" throttled: gave up after 2 attempts/]
--- no_error_log eval
["changed meanwhile", "(attempt 3)", "[alert]", "exited on signal"]



=== TEST 8: a new conversation that loses a race waits before writing again
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/tx/condition,canned/t8;
    }
--- request eval
["POST /api/messages\n" . '{"message":"t150 new, raced","handle":"londo"}']
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code: 200
--- response_body_like eval
qr/^\{"message_group_uuid":"[0-9a-f-]{36}"/
--- error_log eval
[qr/\[info\] .* ddbm: conversation "[0-9a-f-]{36}" changed meanwhile, writing again in \d+ms \(attempt 2\)/]
--- no_error_log eval
["[alert]", "exited on signal"]



=== TEST 9: the longest pause is ddbm_retries' third argument
Windows of 40, 80 and 160 ms capped at 50: no pause over 50 ms.
--- config
    location = /throttled {
        ddbm_pattern health;
        ddbm_backend /_fake/DescribeTable/throttle/t10;
        ddbm_retries 3 40ms 50ms;
    }
--- request eval
[("GET /throttled") x 5]
--- error_code eval
[(503) x 5]
--- error_log eval
[qr/retry 3 in \d+ms/]
--- no_error_log eval
[qr/retry \d in (?:5[1-9]|[6-9]\d|\d{3,})ms/, "[alert]", "exited on signal"]



=== TEST 10: a chunked body over ddbm_body_max: 413 before it is buffered to a file
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_body_max 1k;
        client_max_body_size 1m;
        client_body_buffer_size 8k;
    }
--- more_headers
Transfer-Encoding: chunked
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- request eval
my $chunk = "x" x 4096;
"POST /api/messages\n" . ((sprintf("%x\r\n%s\r\n", length $chunk, $chunk)) x 50) . "0\r\n\r\n"
--- error_code: 413
--- response_body eval
'{"error":"body_too_large","message":"request body is too large"}'
--- error_log eval
[qr/\[info\] .* ddbm: request body over ddbm_body_max 1024, answered 413/]
--- no_error_log eval
["buffered to a temporary file", "[alert]", "exited on signal"]



=== TEST 11: the retry quota is shared and runs out: a retry costs 5 of ddbm_retry_quota
A bucket of 10: the first request retries twice (10 tokens), its third
failure finds the bucket empty; the second request gets no retry at all.
(/health's status call never draws from the quota: t/161-cache-tables.t.)
--- http_config
    ddbm_retry_quota 10;
--- config
    location ~ ^/throttled/@(?<handle>[^/]+)/short$ {
        include $TEST_NGINX_DDBM_ROUTES/user_short.conf;
        ddbm_backend /_fake/GetItem/throttle/t12;
        ddbm_retries 3 1ms;
        add_header X-Calls $ddbm_calls always;
    }
--- request eval
["GET /throttled/\@bayko/short", "GET /throttled/\@bayko/short"]
--- error_code eval
[503, 503]
--- response_headers eval
["X-Calls: 3", "X-Calls: 1"]
--- error_log eval
[qr/\[warn\] .* ddbm: DynamoDB GetItem: no retry, the retry quota is spent/]
--- no_error_log eval
["retry 3 in", "[alert]", "exited on signal"]



=== TEST 12: x-amz-retry-after sets the pause before the retry
--- config
    location = /throttled {
        ddbm_pattern health;
        ddbm_backend /_fake/DescribeTable/throttle-ra,canned/t13;
        ddbm_retries 3 1ms;
    }
--- request
GET /throttled
--- error_code: 200
--- error_log eval
[qr/\[warn\] .* ddbm: DynamoDB DescribeTable: 400 ThrottlingException, retry 1 in 150ms/]
--- no_error_log eval
["[alert]", "exited on signal"]



=== TEST 13: no retry that would pass ddbm_request_timeout: 503 at once
The pause asked for (150 ms) would end after the request's 100 ms.
--- config
    location = /throttled {
        ddbm_pattern health;
        ddbm_backend /_fake/DescribeTable/throttle-ra,canned/t14;
        ddbm_retries 3 1ms;
        ddbm_request_timeout 100ms;
        add_header X-Calls $ddbm_calls always;
    }
--- request
GET /throttled
--- error_code: 503
--- response_headers
Retry-After: 1
X-Calls: 1
--- error_log eval
[qr/\[warn\] .* ddbm: DynamoDB DescribeTable: no retry, ddbm_request_timeout would pass/]
--- no_error_log eval
["retry 1 in", "[alert]", "exited on signal"]



=== TEST 14: ddbm_cors_origin with several origins allows each of them
(it kept only the first)
--- config
    location = /health {
        ddbm_pattern health;
        ddbm_cors_origin http://a.example http://b.example;
    }
--- request eval
["GET /health", "GET /health", "GET /health"]
--- more_headers eval
["Origin: http://a.example", "Origin: http://b.example",
 "Origin: http://c.example"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["Access-Control-Allow-Origin: http://a.example",
 "Access-Control-Allow-Origin: http://b.example",
 "!Access-Control-Allow-Origin"]



=== TEST 15: a 200 to a transaction that is not DynamoDB's JSON is never an acknowledgment: the same transaction again
(a soak found posts answered 200 and never stored)
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/tx/garbage,canned/t16;
        ddbm_retries 3 1ms;
    }
--- request eval
"POST /api/messages\n" . '{"message":"t150 garbage first","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}'
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code: 200
--- error_log eval
[qr/\[warn\] .* ddbm: DynamoDB TransactWriteItems: 200 answer that is not DynamoDB JSON, retry 1 in/]
--- no_error_log eval
["[alert]", "exited on signal"]



=== TEST 16: ... and when it stays so: 502 dynamodb_answer_unreadable, never 200
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/tx/cut-json/t17;
        ddbm_retries 1 1ms;
    }
    location = /health {
        ddbm_pattern health;
        ddbm_backend /_fake/DescribeTable/json-array/t17;
        ddbm_retries 0;
    }
--- request eval
["POST /api/messages\n" . '{"message":"t150 never","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}',
 "GET /health"]
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code eval
[502, 502]
--- response_body eval
['{"error":"dynamodb_answer_unreadable","message":"the database answer was unreadable"}',
 '{"error":"dynamodb_answer_unreadable","message":"the database answer was unreadable"}']
--- error_log eval
[qr/\[error\] .* ddbm: DynamoDB TransactWriteItems failed after 2 attempt\(s\): 200/]
--- no_error_log eval
["[alert]", "exited on signal"]
