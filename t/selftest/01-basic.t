# Self test of the Test::Nginx runner (real or t/lib/fallback) with stock
# nginx only: requests, bodies, headers, user files, chunked answers.
# Every block checks 3 things: status, body, and no [error] in the log.
use Test::Nginx::Socket;

repeat_each(2);

plan tests => repeat_each() * 3 * blocks();

run_tests();

__DATA__

=== TEST 1: sanity
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- error_code: 200
--- response_body
hello
--- no_error_log
[error]



=== TEST 2: more_headers reach nginx
--- config
    location = /t {
        return 200 "foo=$http_x_foo bar=$http_x_bar\n";
    }
--- more_headers
X-Foo: 42
# a comment line
X-Bar: a b c
--- request
GET /t
--- response_body
foo=42 bar=a b c
--- no_error_log
[error]



=== TEST 3: comments and white space before the request line
--- config
    location = /t {
        return 200 "args=$args\n";
    }
--- request
    # the query string
    GET /t?a=1&b=2
--- response_body
args=a=1&b=2
--- no_error_log
[error]



=== TEST 4: request body gets a Content-Length (body trimmed)
--- config
    location = /post {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        proxy_set_header X-Body $request_body;
    }
    location = /echo {
        return 200 "body=[$http_x_body] len=$http_content_length\n";
    }
--- request
POST /post
hello world
--- response_body
body=[hello world] len=11
--- no_error_log
[error]



=== TEST 5: request eval
--- config
    location = /post {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        proxy_set_header X-Body $request_body;
    }
    location = /echo {
        return 200 "body=[$http_x_body] len=$http_content_length\n";
    }
--- request eval
"POST /post\n" . ("x" x 10)
--- response_body
body=[xxxxxxxxxx] len=10
--- no_error_log
[error]



=== TEST 6: chunked request body is sent as is
--- config
    location = /post {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        proxy_set_header X-Body $request_body;
    }
    location = /echo {
        return 200 "body=[$http_x_body] len=$http_content_length\n";
    }
--- more_headers
Transfer-Encoding: chunked
--- request eval
"POST /post\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
--- response_body
body=[hello world] len=11
--- no_error_log
[error]



=== TEST 7: 404 from the default root location
--- config
--- request
GET /no-such-file.html
--- error_code: 404
--- response_body_like: 404 Not Found
--- no_error_log
[alert]



=== TEST 8: redirect
--- config
    location = /old {
        return 301 /new;
    }
--- request
GET /old
--- error_code: 301
--- response_body_like: ^<html>.*<h1>301 Moved Permanently</h1>
--- no_error_log
[error]



=== TEST 9: skipped block (not counted in blocks())
--- SKIP
--- config
    location = /t { return 500; }
--- request
GET /t
--- response_body
never



=== TEST 10: user_files in the html directory
--- config
--- user_files
>>> hello.txt
Hello, files
>>> sub/dir/other.txt 202001020304.05
other
--- request
GET /hello.txt
--- response_body
Hello, files
--- no_error_log
[error]



=== TEST 11: chunked response (ssi drops Content-Length)
--- config
    location = /page.html {
        ssi on;
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- user_files
>>> page.html
<!--# echo var="arg_name" -->!
--- request
GET /page.html?name=chunky
--- response_body
chunky!
--- no_error_log
[error]



=== TEST 12: HTTP/1.0 request
--- config
    location = /t {
        return 200 "proto=$server_protocol host=$host conn=$http_connection\n";
    }
--- request
GET /t HTTP/1.0
--- response_body
proto=HTTP/1.0 host=localhost conn=close
--- no_error_log
[error]



=== TEST 13: HEAD request has no body
--- config
    location = /t {
        return 200 "not sent\n";
    }
--- request
HEAD /t
--- response_body
--- no_error_log
[error]
