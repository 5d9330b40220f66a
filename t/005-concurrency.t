# Concurrent deliveries of one event across two workers: the backend sees
# it exactly once, the others are told to retry, and a delivery after the
# first one finished is a duplicate.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use Qbsync::Stripe;
use Qbsync::Backend;

Qbsync::Backend::start();

our $Event = Qbsync::Stripe::realistic_event(
    id => 'evt_1QbsyncConcurrent00001');

workers(2);
master_on();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: eight concurrent deliveries, one reaches the backend
/fanout mirrors the delivery to the gate eight times at once (each mirror
is a new connection to nginx, taken by either worker), then delivers it
once more after the first delivery has finished.
--- http_config
    qbsync_zone qbsync:1m;
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT/delay/500;
    }

    location = /fanout {
        mirror /mirrored;
        mirror /mirrored;
        mirror /mirrored;
        mirror /mirrored;
        mirror /mirrored;
        mirror /mirrored;
        mirror /mirrored;
        mirror /mirrored;
        mirror_request_body on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/later;
    }

    location = /mirrored {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/stripe/webhook;
    }

    location = /later {
        auth_request /pause;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/stripe/webhook;
    }

    location = /pause {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT/delay/1500;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
    }
--- request eval: "POST /fanout\n$::Event"
--- more_headers eval: Qbsync::Stripe::headers($::Event)
--- response_body chomp
{"duplicate":true,"event":"evt_1QbsyncConcurrent00001"}
--- timeout: 5
--- grep_error_log eval: qr/: (verified|in_progress|duplicate)(?=,)/
--- grep_error_log_out eval
qr/\A(?=(?:.*\n)*?: verified\n)(?!(?:.*\n)*?: verified\n(?:.*\n)*?: verified\n)(?:: (?:verified|in_progress)\n){8}: duplicate\n\z/
