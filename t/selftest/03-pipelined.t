# Self test of the Test::Nginx runner: several requests per block, on one
# keep-alive connection (pipelined_requests) or on several connections
# (request eval giving an array), packets and raw requests.
use Test::Nginx::Socket;

repeat_each(2);

plan tests => repeat_each() * (12 + 4 + 6 + 2 + 2 + 4);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: pipelined requests; more_headers go to each; per-request expectations (12)
--- config
    location = /a {
        return 200 "a\n";
    }
    location = /b {
        add_header X-B yes;
        return 200 "b=$http_x_foo\n";
    }
--- more_headers
X-Foo: 7
--- pipelined_requests eval
["GET /a", "GET /b", "GET /nope"]
--- error_code eval
[200, 200, 404]
--- response_headers eval
["!X-B", "X-B: yes", "Content-Type: text/html"]
--- response_body_like eval
["^a\$", "^b=7\$", "404 Not Found"]
--- no_error_log
[alert]



=== TEST 2: pipelined chunked responses (4)
--- config
    location = /page.html {
        ssi on;
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- user_files
>>> page.html
<!--# echo var="arg_n" -->
--- pipelined_requests eval
["GET /page.html?n=1", "GET /page.html?n=22"]
--- response_body eval
["1\n", "22\n"]



=== TEST 3: an array of requests, each on its own connection (6)
--- config
    location = /a {
        return 200 "a=$http_x_foo\n";
    }
    location = /b {
        return 200 "b=$http_x_foo\n";
    }
--- request eval
["GET /a", "GET /b"]
--- more_headers eval
["X-Foo: 1", "X-Foo: 2"]
--- response_body eval
["a=1\n", "b=2\n"]
--- no_error_log
[error]



=== TEST 4: a request sent as two packets (2)
--- config
    location = /post {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        proxy_set_header X-Body $request_body;
    }
    location = /echo {
        return 200 "body=[$http_x_body]\n";
    }
--- request eval
[["POST /post\nhel", {value => "lo", delay_before => 0.05}]]
--- response_body
body=[hello]



=== TEST 5: raw_request (2)
--- config
    location = /a {
        return 200 "host=$host\n";
    }
--- raw_request eval
"GET /a HTTP/1.0\r\nHost: raw.example\r\n\r\n"
--- response_body
host=raw.example



=== TEST 6: pipelined requests with bodies (4)
--- config
    location = /post {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        proxy_set_header X-Body $request_body;
    }
    location = /echo {
        return 200 "body=[$http_x_body] len=$http_content_length\n";
    }
--- pipelined_requests eval
["POST /post\nfirst", "POST /post\nsecond one"]
--- response_body eval
["body=[first] len=5\n", "body=[second one] len=10\n"]
