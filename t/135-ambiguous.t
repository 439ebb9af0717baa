# Ambiguous outcomes are resolved, never re-applied.  A transaction can be
# applied while its answer is lost (a 500, a timeout); what follows must
# not store the message a second time, nor call a stored message failed.
# Every post writes a receipt in its transaction (its Idempotency-Key
# record, or RECEIPT#<message uuid>) with attribute_not_exists, so:
#
#  - a new plan after an attempt that may have applied fails on the
#    receipt, and the stored answer is given (update mode and start mode);
#  - when retries run out after such an attempt, one read of the receipt
#    decides between 200 and the error;
#  - when nothing was applied, the error stays an error.
#
# The fake (t/lib/DdbmFake.pm, mode "txreal") scripts each transaction's
# answer and relays every other call to DynamoDB Local; "commit-e500"
# applies the transaction there and answers 500.  Each of the first three
# blocks failed before receipts: the message stored twice, 503 for a
# stored conversation, 503 for a stored message.

use Test::Nginx::Socket 'no_plan';
use DdbmTest;
use DdbmModule;
use DdbmFake;

ddbm_fresh_table('ddbm_t135');
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

=== TEST 1: applied, answered 500, its retry canceled by throttling: a new plan finds the receipt, one message
The transaction is applied but answered 500; the same transaction again
is canceled by throttling (as DynamoDB may answer).  The new plan (a new
time, a new token) would store the message a second time: its receipt
condition fails instead, and the answer the receipt keeps is given.
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/txreal/commit-e500,txthrottle,real/a1;
        ddbm_retries 3 2ms;
    }
    location ~ ^/api/messages/(?<group>[^/]+)$ {
        include $TEST_NGINX_DDBM_ROUTES/list_messages.conf;
    }
--- request eval
["POST /api/messages\n" . '{"message":"t135 lost then throttled","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}',
 "GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399"]
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","uuid":"6f4736eb-c53a-4877-968e-ae8957f9383e",.*"message":"t135 lost then throttled","created_at":"[^"]+"\}$/,
 main::once_re("t135 lost then throttled")]
--- raw_response_headers_unlike eval
[qr/Idempotent-Replayed/i, qr/Idempotent-Replayed/i]
--- error_log eval
[qr/\[warn\] .* ddbm: DynamoDB TransactWriteItems: 500 InternalServerError, retry 1 in/,
 qr/\[info\] .* ddbm: message "[0-9a-f-]{36}" was stored by an attempt whose answer was lost/]
--- no_error_log eval
["[alert]", "exited on signal"]



=== TEST 2: a new conversation applied, its answer lost, its retry throttled: 200, one conversation
Start mode makes the conversation's record with attribute_not_exists, so
before receipts every new plan failed on its own commit until "gave up",
answered 503 conversation_busy for a stored conversation (and a client
retry would have started a second one).
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/txreal/commit-e500,txthrottle,real/a2;
        ddbm_retries 3 2ms;
        ddbm_write_retries 4;
    }
    location = /api/message_groups {
        include $TEST_NGINX_DDBM_ROUTES/list_conversations.conf;
    }
--- request eval
["POST /api/messages\n" . '{"message":"t135 a start whose answer was lost","handle":"londo"}',
 "GET /api/message_groups"]
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"message_group_uuid":"[0-9a-f-]{36}",.*"message":"t135 a start whose answer was lost"/,
 main::once_re("t135 a start whose answer was lost")]
--- error_log eval
[qr/\[info\] .* ddbm: message "[0-9a-f-]{36}" was stored by an attempt whose answer was lost/]
--- no_error_log eval
["gave up", "[alert]", "exited on signal"]



=== TEST 3: applied, then every retry answered 500: the receipt decides, 200
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/txreal/commit-e500,e500,e500/a3;
        ddbm_retries 2 2ms;
    }
    location ~ ^/api/messages/(?<group>[^/]+)$ {
        include $TEST_NGINX_DDBM_ROUTES/list_messages.conf;
    }
--- request eval
["POST /api/messages\n" . '{"message":"t135 applied then 500s","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}',
 "GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399"]
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/"message":"t135 applied then 500s"/,
 main::once_re("t135 applied then 500s")]
--- error_log eval
[qr/\[warn\] .* ddbm: message "[0-9a-f-]{36}": an attempt may have been applied, reading its receipt/,
 qr/\[info\] .* ddbm: message "[0-9a-f-]{36}" was stored by an attempt whose answer was lost/]
--- no_error_log eval
["[alert]", "exited on signal"]



=== TEST 4: never applied, every attempt answered 500: the receipt is absent, 503 stays 503
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/txreal/e500,e500,e500/a4;
        ddbm_retries 2 2ms;
    }
    location ~ ^/api/messages/(?<group>[^/]+)$ {
        include $TEST_NGINX_DDBM_ROUTES/list_messages.conf;
    }
--- request eval
["POST /api/messages\n" . '{"message":"t135 never applied","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}',
 "GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399"]
--- more_headers
X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb
--- error_code eval
[503, 200]
--- response_body_like eval
[qr/^\{"error":"dynamodb_unavailable","message":"the database call failed"\}$/,
 main::absent_re("t135 never applied")]
--- error_log eval
[qr/\[warn\] .* ddbm: message "[0-9a-f-]{36}": an attempt may have been applied, reading its receipt/]
--- no_error_log eval
["was stored by an attempt", "[alert]", "exited on signal"]



=== TEST 5: with an Idempotency-Key: applied, then 500s, 200 from its own record; the same key again replays it
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/txreal/commit-e500,e500,e500,real/a5;
        ddbm_retries 2 2ms;
    }
    location ~ ^/api/messages/(?<group>[^/]+)$ {
        include $TEST_NGINX_DDBM_ROUTES/list_messages.conf;
    }
--- request eval
["POST /api/messages\n" . '{"message":"t135 keyed and lost","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}',
 "POST /api/messages\n" . '{"message":"t135 keyed and lost","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}',
 "GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399"]
--- more_headers eval
["X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb\nIdempotency-Key: t135-a5",
 "X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb\nIdempotency-Key: t135-a5",
 "X-Test-Sub: 71c568d1-29bb-4ae1-92c5-057d12db82cb"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/"message":"t135 keyed and lost"/, qr/"message":"t135 keyed and lost"/,
 main::once_re("t135 keyed and lost")]
--- raw_response_headers_like eval
[qr/^(?!.*Idempotent-Replayed)/si, qr/Idempotent-Replayed: true/, qr//]
--- no_error_log eval
["[alert]", "exited on signal"]
