# Self test of the Test::Nginx runner: the generated nginx.conf (master and
# 2 workers, http_config, main_config, server_name, env_to_nginx,
# $TEST_NGINX_RAND_PORT_N) and add_block_preprocessor.
use Test::Nginx::Socket;

workers(2);
master_on();
env_to_nginx("QB_SELFTEST=yes");

# blocks without a config get this one
add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->config) {
        $block->set_value("config", <<'_END_');
    location = /t {
        return 200 "default config\n";
    }
_END_
    }
});

plan tests => repeat_each() * (3 + 2 + 4 + 2);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: master with two workers; config from the preprocessor (3)
--- request
GET /t
--- response_body
default config
--- grep_error_log eval
qr/start worker process(?= \d)/
--- grep_error_log_out
start worker process
start worker process



=== TEST 2: http_config with a second server on $TEST_NGINX_RAND_PORT_1 (2)
--- http_config
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 200 "backend says $uri\n";
        }
    }
--- config
    location /p/ {
        proxy_pass http://backend/;
    }
--- request
GET /p/hello
--- response_body
backend says /hello



=== TEST 3: main_config, and a shared memory zone used by both workers (4)
--- main_config
    env QB_MAIN_CONFIG=1;
    worker_rlimit_nofile 1024;
--- http_config
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
--- config
    location = /limited {
        # (not "return": it would answer before limit_req runs)
        limit_req zone=one;
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- user_files
>>> limited
passed
--- request eval
["GET /limited", "GET /limited"]
--- error_code eval
[200, 503]
--- response_body_like eval
["passed", "503 Service"]



=== TEST 4: server_name section (2)
--- server_name: selftest.example
--- config
    location = /name {
        return 200 "$server_name\n";
    }
--- request
GET /name
--- response_body
selftest.example
