# Self test of the Test::Nginx runner: each kind of expectation, with the
# number of subtests it adds (the count must be the same under the real
# Test::Nginx and under t/lib/fallback).
use Test::Nginx::Socket;

repeat_each(2);

# subtests per repeat, block by block (see the comment in each block)
plan tests => repeat_each() * (6 + 6 + 5 + 4 + 2 + 2 + 2 + 1 + 2 + 4 + 4 + 2 + 1);

no_long_string();
run_tests();

__DATA__

=== TEST 1: response_headers, with $ServerPort and an absent header (6)
--- config
    location = /t {
        add_header X-Foo bar;
        add_header X-Port $server_port;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-Foo: bar
X-Port: $ServerPort
Content-Type: text/plain
!X-Missing
--- response_body
ok



=== TEST 2: response_headers_like, raw headers, body unlike (6)
--- config
    location = /t {
        add_header X-Time "t-$msec";
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers_like
X-Time: t-\d+\.\d+
Server: nginx.*
--- raw_response_headers_like: ^HTTP/1\.1 200 OK\r\n
--- raw_response_headers_unlike: X-Missing
--- response_body_unlike: fail



=== TEST 3: error_log substrings (5)
--- config
    location = /missing {
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- request
GET /missing
--- error_code: 404
--- error_log
No such file or directory
open() "
--- no_error_log
[alert]
[crit]



=== TEST 4: error_log and no_error_log as eval arrays with qr// (4)
--- config
    location = /missing {
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- request
GET /missing
--- error_code: 404
--- error_log eval
[qr{open\(\) "[^"]+/missing" failed}, "2: No such file"]
--- no_error_log eval
[qr/\[emerg\]/]



=== TEST 5: grep_error_log (each repeat sees only its own log lines) (2)
--- config
    location = /missing {
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- request
GET /missing
--- error_code: 404
--- grep_error_log chop
No such file or directory
--- grep_error_log_out
No such file or directory



=== TEST 6: response_body eval giving a qr// (2)
--- config
    location = /t {
        return 200 "hello $pid\n";
    }
--- request
GET /t
--- response_body eval
qr/^hello \d+$/



=== TEST 7: response_body_filters (2)
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body_filters
uc
--- response_body
HELLO



=== TEST 8: timeout, abort and ignore_response: nginx waits for a body never sent (1)
--- config
    location = /post {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo {
        return 200 "never\n";
    }
--- more_headers
Content-Length: 100
--- request
POST /post
abc
--- timeout: 300ms
--- abort
--- ignore_response
--- no_error_log
[error]



=== TEST 9: error_code_like and wait (2)
--- config
    location = /t {
        return 204;
    }
--- request
GET /t
--- error_code_like: ^20[04]$
--- response_body
--- wait: 0.1



=== TEST 10: access_log and no_access_log (4)
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t?from=selftest
--- response_body
ok
--- access_log
"GET /t?from=selftest HTTP/1.1" 200
--- no_access_log
POST



=== TEST 11: log_level per block (4)
--- config
    location = /t {
        return 200 "ok\n";
    }
--- log_level: warn
--- request
GET /t
--- response_body
ok
--- no_error_log
[debug]
[info]



=== TEST 12: $ServerPort in response_body (2)
--- config
    location = /t {
        return 200 "port=$server_port\n";
    }
--- request
GET /t
--- response_body
port=$ServerPort



=== TEST 13: must_die: a bad config makes nginx exit (1)
--- config
    location = /t {
        return a b c;
    }
--- request
GET /t
--- must_die
