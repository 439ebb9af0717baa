# Self-test of the Test::Nginx runner (t/runner, or the real Test::Nginx):
# stock nginx directives only, no ddbm module.  It must pass under both
# runners with the same number of assertions (the plan below), and fail
# when the runner mis-sends requests, mis-parses responses or mis-reads
# the error log.

use Test::Nginx::Socket;

repeat_each(2);

# assertions per repetition, block by block (see the comments in __DATA__)
plan tests => repeat_each() * (5 + 3 + 3 + 3 + 5 + 2 + 2 + 4 + 4 + 3 + 2
                               + 2 + 2 + 3 + 1 + 2 + 6 + 2 + 2);

no_shuffle();      # TEST 13 reuses the nginx of TEST 12
no_long_string();
env_to_nginx('TEST_NGINX_SELFTEST_WORD');

$ENV{TEST_NGINX_SELFTEST_WORD} = 'sesame';

# blocks with "--- default_config" get this config
add_block_preprocessor(sub {
    my $block = shift;
    if (defined $block->default_config && !defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location = /t {
        return 200 "hello\n";
    }
    location = /args {
        return 200 "args=$args\n";
    }
_EOC_
    }
});

run_tests();

__DATA__

=== TEST 1: plain GET: status, headers, body, clean error log
# 1 status + 2 headers + 1 body + 1 no_error_log = 5
--- default_config
--- request
GET /t
--- response_headers
Content-Type: text/plain
!X-Nope
--- response_body
hello
--- no_error_log
[error]



=== TEST 2: custom status and headers
# 1 status + 1 header + 1 body = 3
--- config
    location = /created {
        add_header X-Foo bar always;
        return 201 "created";
    }
--- request
GET /created
--- error_code: 201
--- response_headers
X-Foo: bar
--- response_body chomp
created



=== TEST 3: POST body reaches nginx with its Content-Length
# 1 status + 1 body + 1 no_error_log = 3
--- config
    location = /echo {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/dump;
        proxy_set_header X-Body $request_body;
        proxy_set_header X-Len $content_length;
    }
    location = /dump {
        return 200 "body=[$http_x_body] len=$http_x_len method=$request_method\n";
    }
--- request
POST /echo
hello world
--- response_body
body=[hello world] len=11 method=POST
--- no_error_log
[error]



=== TEST 4: error_log lines (plain text) for a missing file
# 1 status + 2 error_log = 3
--- default_config
--- request
GET /nothing-here.html
--- error_code: 404
--- wait: 0.05
--- error_log
nothing-here.html" failed (2: No such file or directory)
[error]



=== TEST 5: error_log / no_error_log as eval arrays with regexes
# 1 status + 2 error_log + 2 no_error_log = 5
--- default_config
--- request
GET /nothing-here-either.html
--- error_code: 404
--- error_log eval
[qr/open\(\) "[^"]*nothing-here-either\.html" failed/, "No such file or directory"]
--- no_error_log eval
["[alert]", qr/\[crit\]/]



=== TEST 6: request eval
# 1 status + 1 body = 2
--- default_config
--- request eval
"GET /args?a=" . (1 + 2)
--- response_body
args=a=3



=== TEST 7: more_headers reach the server
# 1 status + 1 body = 2
--- config
    location = /h {
        return 200 "foo=$http_x_foo bar=$http_x_bar\n";
    }
--- request
GET /h
--- more_headers
X-Foo: bar baz
# a comment line
X-Bar: 1
--- response_body
foo=bar baz bar=1



=== TEST 8: pipelined requests, error_code as a list
# 2 x (1 status + 1 body) = 4
--- config
    location = /p1 { return 200 "one\n"; }
    location = /p2 { return 404 "two\n"; }
--- pipelined_requests eval
["GET /p1", "GET /p2"]
--- error_code eval
[200, 404]
--- response_body eval
["one\n", "two\n"]



=== TEST 9: chunked response is decoded
# 1 status + 2 headers + 1 body = 4
--- config
    location = /c {
        sub_filter_types *;
        sub_filter 'hello' 'howdy';
        sub_filter_once off;
        return 200 "hello, hello\n";
    }
--- request
GET /c
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
howdy, howdy



=== TEST 10: response_body_like, response_headers_like
# 1 status + 1 header + 1 body = 3
--- config
    location = /like {
        add_header X-Id abc-123;
        return 200 "id=12345\n";
    }
--- request
GET /like
--- response_headers_like
X-Id: abc-\d+
--- response_body_like: ^id=\d+$



=== TEST 11: response_body_unlike
# 1 status + 1 body = 2
--- default_config
--- request
GET /t
--- response_body_unlike: error|fail



=== TEST 12: $TEST_NGINX_* expansion in main_config/http_config/config and expected body
# 1 status + 1 body = 2
--- main_config
    worker_rlimit_nofile 1024;
--- http_config
    map $uri $selftest_word {
        default "$TEST_NGINX_SELFTEST_WORD";
    }
--- config
    location = /env {
        return 200 "word=$selftest_word port=$TEST_NGINX_SERVER_PORT\n";
    }
--- request
GET /env
--- response_body
word=sesame port=$TEST_NGINX_SERVER_PORT



=== TEST 13: a block without config reuses the previous nginx
# 1 status + 1 body = 2
--- request
GET /env
--- response_body eval
"word=sesame port=$ENV{TEST_NGINX_SERVER_PORT}\n"



=== TEST 14: HEAD request
# 1 status + 1 header + 1 body = 3
--- default_config
--- request
HEAD /t
--- response_headers
Content-Length: 6
--- response_body



=== TEST 15: client timeout with abort and ignore_response
# 1 no_error_log = 1
--- default_config
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n"
--- timeout: 0.3
--- abort
--- ignore_response
--- no_error_log
[error]



=== TEST 16: raw_request, HTTP/1.0
# 1 status + 1 body = 2
--- default_config
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_body
hello



=== TEST 17: several requests (one connection each), checks per request
# 2 x (1 status + 1 body) + 2 x 1 no_error_log = 6
--- default_config
--- request eval
["GET /t", "GET /args?x=1"]
--- response_body eval
["hello\n", "args=x=1\n"]
--- no_error_log
[error]



=== TEST 18: skipped block (would fail)
--- default_config
--- request
GET /t
--- response_body
this is never checked
--- SKIP



=== TEST 19: status code of an unknown location
# 1 status + 1 body = 2
--- config
    location = /only { return 200 "only\n"; }
--- request
GET /only/not
--- error_code: 404
--- response_body_like: 404 Not Found



=== TEST 20: body sent with Transfer-Encoding: chunked from more_headers
# 1 status + 1 body = 2
--- config
    location = /echo {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/dump;
        proxy_set_header X-Body $request_body;
    }
    location = /dump {
        return 200 "body=[$http_x_body]\n";
    }
--- more_headers
Transfer-Encoding: chunked
--- request eval
"POST /echo\n5\r\nhello\r\n0\r\n\r\n"
--- response_body
body=[hello]
