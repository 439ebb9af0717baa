# A slow network: every route answers exactly as usual when DynamoDB's
# answers arrive one byte at a time (status line, every header, then the
# body, 1-5 ms apart), with Content-Length or chunked; a chunked answer
# whose connection closes before its last chunk is a 502, never a success.
#
# DynamoDB is the scripted fake of t/lib/DdbmFake.pm: its canned answers
# are what DynamoDB would answer from the seeded data (user lookups by sub
# and by handle, the GRPMETA# conversation record, Query pages, an
# accepted TransactWriteItems); "real" relays DynamoDB Local's own answer.
# A location picks how answers travel through its backend path:
# /_fake/all/<action>:<how>/<id> (e.g. canned:chunked+drip).
#
# master_process is on, so a crashed worker is logged ("exited on signal").
#
# Known failures (module at 4fdb8e7, nginx 1.22.1): blocks 10 and 11, a
# chunked answer cut short is taken for a success (200) although nginx
# logs "upstream prematurely closed connection".  The module is to be
# fixed, not these expectations.

use Test::Nginx::Socket 'no_plan';
use DdbmTest;
use DdbmModule;
use DdbmFake;

ddbm_fresh_table('ddbm_t140');
seed_table();
DdbmFake::start();

# the seeded messages $from..$to as the API answers the fake's canned
# page (the fake's message uuids are a0000000-0000-4000-8000-<index>)
sub fake_messages_json {
    my ($from, $to) = @_;
    my $json = DdbmModule::seed_messages_json($from, $to);
    my $i = $from;
    $json =~ s/<UUID>/sprintf 'a0000000-0000-4000-8000-%012d', $i++/ge;
    return $json;
}

my $ANDREW = $DdbmModule::SUB{andrewbrown};

log_level('info');
master_on();
no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    DdbmModule::preprocess($block);
    # the largest canned answer (twelve messages) fits 64k
    $block->set_value('config', DdbmFake::location('64k') . $block->config);
    $block->set_value('timeout', 15) if !defined $block->timeout;
});

run_tests();

__DATA__

=== TEST 1: health, answered byte by byte: 200, and the bytes really came one at a time
At debug level nginx logs every read from the fake: some read exactly one
byte; the whole answer (about 200 bytes, at least 1 ms apart) takes at
least 0.2 s.
--- log_level: debug
--- config
    location = /health {
        ddbm_pattern health;
        ddbm_backend /_fake/all/canned:drip/t1;
        add_header X-Elapsed $request_time always;
    }
--- request
GET /health
--- error_code: 200
--- response_headers_like
Content-Type: application/json
X-Elapsed: (?:0\.[2-9]|[1-9]\.)\d*
--- response_body chomp
{"status":"ok","table":"ddbm_t140"}
--- error_log eval
[qr/recv: fd:\d+ 1 of \d+/, qr/http proxy status 200 "200 Fake"/]
--- no_error_log
[error]
[alert]
[emerg]
exited on signal



=== TEST 2: health, DynamoDB Local's own answer relayed byte by byte: 200
--- config
    location = /health {
        ddbm_pattern health;
        ddbm_backend /_fake/all/real:drip/t2;
    }
--- request
GET /health
--- error_code: 200
--- response_body chomp
{"status":"ok","table":"ddbm_t140"}
--- no_error_log
[error]
[alert]
[emerg]
exited on signal



=== TEST 3: list conversations, every answer byte by byte
--- config
    location = /api/message_groups {
        include $TEST_NGINX_DDBM_ROUTES/list_conversations.conf;
        ddbm_backend /_fake/all/canned:drip/t3;
    }
--- request
GET /api/message_groups
--- more_headers eval
"X-Test-Sub: $DdbmModule::SUB{andrewbrown}"
--- error_code: 200
--- response_headers
Content-Type: application/json
!X-Next-Cursor
--- response_body chomp
[{"uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","display_name":"Andrew Bayko","handle":"bayko","message":"Then let's point wrk at it tonight and compare with the Flask numbers.","created_at":"2026-11-20T10:11:00.000000+00:00"}]
--- no_error_log
[error]
[alert]
[emerg]
exited on signal



=== TEST 4: list messages, every answer byte by byte: all twelve, oldest first
The caller, the conversation record and the page, in parallel.
--- config
    location ~ ^/api/messages/(?<group>[^/]+)$ {
        include $TEST_NGINX_DDBM_ROUTES/list_messages.conf;
        ddbm_backend /_fake/all/canned:drip/t4;
    }
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399
--- more_headers eval
"X-Test-Sub: $DdbmModule::SUB{andrewbrown}"
--- error_code: 200
--- response_headers
Content-Type: application/json
!X-Next-Cursor
--- response_body eval
main::fake_messages_json(0, 11)
--- no_error_log
[error]
[alert]
[emerg]
exited on signal



=== TEST 5: list messages, a page and its cursor, byte by byte
--- config
    location ~ ^/api/messages/(?<group>[^/]+)$ {
        include $TEST_NGINX_DDBM_ROUTES/list_messages.conf;
        ddbm_backend /_fake/all/canned:drip/t5;
    }
--- request eval
["GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399?limit=5",
 "GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399?limit=5&cursor=2026-11-20T10:07:00.000000%2B00:00"]
--- more_headers eval
"X-Test-Sub: $DdbmModule::SUB{bayko}"
--- error_code eval
[200, 200]
--- response_headers eval
["X-Next-Cursor: 2026-11-20T10:07:00.000000+00:00",
 "X-Next-Cursor: 2026-11-20T10:02:00.000000+00:00"]
--- response_body eval
[main::fake_messages_json(7, 11), main::fake_messages_json(2, 6)]
--- no_error_log
[error]
[alert]
[emerg]
exited on signal



=== TEST 6: user short, byte by byte
--- config
    location ~ ^/api/users/@(?<handle>[^/]+)/short$ {
        include $TEST_NGINX_DDBM_ROUTES/user_short.conf;
        ddbm_backend /_fake/all/canned:drip/t6;
    }
--- request
GET /api/users/@bayko/short
--- error_code: 200
--- response_body chomp
{"uuid":"1c57dab3-621d-431c-b55d-de5cf7274595","handle":"bayko","display_name":"Andrew Bayko"}
--- no_error_log
[error]
[alert]
[emerg]
exited on signal



=== TEST 7: post to a conversation, every answer (the transaction's too) byte by byte
The caller and the conversation record, then TransactWriteItems.
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/all/canned:drip/t7;
    }
--- request
POST /api/messages
{"message":"slowly but surely","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}
--- more_headers eval
"X-Test-Sub: $DdbmModule::SUB{andrewbrown}"
--- error_code: 200
--- response_body_like eval
DdbmModule::json_re('{"message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","uuid":"6f4736eb-c53a-4877-968e-ae8957f9383e","display_name":"Andrew Brown","handle":"andrewbrown","message":"slowly but surely","created_at":"<TIME>"}')
--- no_error_log
[error]
[alert]
[emerg]
exited on signal



=== TEST 8: start a conversation, every answer byte by byte
The caller and the receiver (by handle), then TransactWriteItems.
--- config
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/all/canned:drip/t8;
    }
--- request
POST /api/messages
{"message":"hello, slowly","handle":"bayko"}
--- more_headers eval
"X-Test-Sub: $DdbmModule::SUB{londo}"
--- error_code: 200
--- response_body_like eval
DdbmModule::json_re('{"message_group_uuid":"<UUID>","uuid":"69fca161-0a2d-4422-84aa-6a29d877f66e","display_name":"Londo Mollari","handle":"londo","message":"hello, slowly","created_at":"<TIME>"}')
--- no_error_log
[error]
[alert]
[emerg]
exited on signal



=== TEST 9: every route, chunked answers byte by byte (chunks of 1 to 7 bytes)
--- config
    location = /health {
        ddbm_pattern health;
        ddbm_backend /_fake/all/canned:chunked+drip/t9;
    }
    location = /api/message_groups {
        include $TEST_NGINX_DDBM_ROUTES/list_conversations.conf;
        ddbm_backend /_fake/all/canned:chunked+drip/t9;
    }
    location ~ ^/api/messages/(?<group>[^/]+)$ {
        include $TEST_NGINX_DDBM_ROUTES/list_messages.conf;
        ddbm_backend /_fake/all/canned:chunked+drip/t9;
    }
    location = /api/messages {
        ddbm_pattern post_message;
        ddbm_backend /_fake/all/canned:chunked+drip/t9;
    }
    location ~ ^/api/users/@(?<handle>[^/]+)/short$ {
        include $TEST_NGINX_DDBM_ROUTES/user_short.conf;
        ddbm_backend /_fake/all/canned:chunked+drip/t9;
    }
--- request eval
["GET /health",
 "GET /api/message_groups",
 "GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399",
 "GET /api/users/\@bayko/short",
 "POST /api/messages\n" . '{"message":"in chunks","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}',
 "POST /api/messages\n" . '{"message":"in chunks too","handle":"andrewbrown"}']
--- more_headers eval
"X-Test-Sub: $DdbmModule::SUB{bayko}"
--- error_code eval
[200, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/^\{"status":"ok","table":"ddbm_t140"\}$/,
 DdbmModule::json_re(q([{"uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","display_name":"Andrew Brown","handle":"andrewbrown","message":"Then let's point wrk at it tonight and compare with the Flask numbers.","created_at":"2026-11-20T10:11:00.000000+00:00"}])),
 DdbmModule::json_re(main::fake_messages_json(0, 11)),
 DdbmModule::json_re('{"uuid":"1c57dab3-621d-431c-b55d-de5cf7274595","handle":"bayko","display_name":"Andrew Bayko"}'),
 DdbmModule::json_re('{"message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","uuid":"1c57dab3-621d-431c-b55d-de5cf7274595","display_name":"Andrew Bayko","handle":"bayko","message":"in chunks","created_at":"<TIME>"}'),
 DdbmModule::json_re('{"message_group_uuid":"<UUID>","uuid":"1c57dab3-621d-431c-b55d-de5cf7274595","display_name":"Andrew Bayko","handle":"bayko","message":"in chunks too","created_at":"<TIME>"}')]
--- no_error_log
[error]
[alert]
[emerg]
exited on signal



=== TEST 10: a chunked answer cut short (closed half-way through the body): 502 dynamodb_answer_unreadable
Health does not parse its answer, so this shows whether a cut chunked
answer (no Content-Length to compare with) is taken for a success.
--- config
    location = /cut {
        ddbm_pattern health;
        ddbm_backend /_fake/all/canned:chunked+cut+drip/t10;
    }
--- request
GET /cut
--- error_code: 502
--- response_body chomp
{"error":"dynamodb_answer_unreadable","message":"the database answer was unreadable"}
--- error_log eval
[qr/\[error\] .* upstream prematurely closed connection while reading upstream/,
 qr/\[error\] .* ddbm: DynamoDB DescribeTable /]
--- no_error_log
[alert]
[emerg]
exited on signal



=== TEST 11: a chunked answer whose JSON is whole but whose last chunk never comes: 502
The connection closes where the zero-length chunk should be: the answer
is incomplete even though what came parses.
--- config
    location ~ ^/api/users/@(?<handle>[^/]+)/short$ {
        include $TEST_NGINX_DDBM_ROUTES/user_short.conf;
        ddbm_backend /_fake/all/canned:chunked+noend+drip/t11;
    }
--- request
GET /api/users/@bayko/short
--- error_code: 502
--- response_body chomp
{"error":"dynamodb_answer_unreadable","message":"the database answer was unreadable"}
--- error_log eval
[qr/\[error\] .* upstream prematurely closed connection while reading upstream/,
 qr/\[error\] .* ddbm: DynamoDB GetItem /]
--- no_error_log
[alert]
[emerg]
exited on signal



=== TEST 12: a chunked Query page cut half-way, byte by byte, beside good user and record answers: 502
--- config
    location ~ ^/api/messages/(?<group>[^/]+)$ {
        include $TEST_NGINX_DDBM_ROUTES/list_messages.conf;
        ddbm_backend /_fake/Query/canned:chunked+cut+drip/t12;
    }
--- request
GET /api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399
--- more_headers eval
"X-Test-Sub: $DdbmModule::SUB{andrewbrown}"
--- error_code: 502
--- response_body chomp
{"error":"dynamodb_answer_unreadable","message":"the database answer was unreadable"}
--- error_log eval
[qr/\[error\] .* upstream prematurely closed connection while reading upstream/,
 qr/\[error\] .* ddbm: .*DynamoDB Query /]
--- no_error_log
[alert]
[emerg]
exited on signal
