# Dedupe on the event id: a delivery the backend accepted is answered as a
# duplicate without reaching it again; one it did not accept is released
# so that Stripe's redelivery goes through.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
master_on();
use lib 't/lib';
use Qbsync::Stripe;
use Qbsync::Backend;

Qbsync::Backend::start();

our $Event = Qbsync::Stripe::event(id => 'evt_1QbsyncDedupe000000001');

sub ::delivery { "POST $_[0]\n$::Event" }
sub ::signed { Qbsync::Stripe::headers($::Event) }

# $backend_path is the backend's behaviour for that test; /later delivers
# the same event after a pause, while an earlier delivery is still going.
our $Config = <<'_EOC_';
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        proxy_read_timeout 1s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT$backend_path;
    }

    location = /later {
        auth_request /pause;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/stripe/webhook;
    }

    location = /pause {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT/delay/$pause;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
    }

    location = /first {
        mirror /mirrored;
        mirror_request_body on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/later;
    }

    location = /mirrored {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/stripe/webhook;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', <<'_EOC_');
    qbsync_zone qbsync:1m;
    map $http_x_test $backend_path {
        default    /ok;
        ~^(/.*)$   $1;
    }
    map $http_x_pause $pause {
        default    300;
        ~^(\d+)$   $1;
    }
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value('config', $Config);
    }
});

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a redelivery of an accepted event is a duplicate
--- pipelined_requests eval
[ ::delivery('/stripe/webhook'), ::delivery('/stripe/webhook') ]
--- more_headers eval: ::signed()
--- error_code eval
[200, 200]
--- response_body eval
["backend\n", qq({"duplicate":true,"event":"evt_1QbsyncDedupe000000001"})]
--- response_headers eval
["Content-Type: text/plain", "Content-Type: application/json"]



=== TEST 2: a duplicate is known by its id and keeps its type for the log
The redelivery is answered from the key: its type comes from the zone, as
the body is read only up to its id.
--- pipelined_requests eval
[ ::delivery('/stripe/webhook'), ::delivery('/stripe/webhook') ]
--- more_headers eval: ::signed()
--- error_code eval
[200, 200]
--- grep_error_log eval: qr/qbsync: event "evt_\w+" \(product.updated\): \w+/
--- grep_error_log_out
qbsync: event "evt_1QbsyncDedupe000000001" (product.updated): verified
qbsync: event "evt_1QbsyncDedupe000000001" (product.updated): duplicate



=== TEST 3: a backend error releases the key: the redelivery reaches it
--- pipelined_requests eval
[ ::delivery('/stripe/webhook'), ::delivery('/stripe/webhook') ]
--- more_headers eval: ::signed() . "X-Test: /status/500"
--- error_code eval
[500, 500]
--- response_body eval
["status 500\n", "status 500\n"]
--- grep_error_log eval: qr/qbsync: event "evt_\w+" \(product.updated\): \w+/
--- grep_error_log_out
qbsync: event "evt_1QbsyncDedupe000000001" (product.updated): verified
qbsync: event "evt_1QbsyncDedupe000000001" (product.updated): verified
--- error_log
answered 500: released for redelivery



=== TEST 4: a 4xx from the backend releases the key too
--- pipelined_requests eval
[ ::delivery('/stripe/webhook'), ::delivery('/stripe/webhook') ]
--- more_headers eval: ::signed() . "X-Test: /status/409"
--- error_code eval
[409, 409]



=== TEST 5: a backend timeout releases the key
--- pipelined_requests eval
[ ::delivery('/stripe/webhook'), ::delivery('/stripe/webhook') ]
--- more_headers eval: ::signed() . "X-Test: /hole"
--- error_code eval
[504, 504]
--- timeout: 5
--- error_log
upstream timed out
answered 504: released for redelivery



=== TEST 6: a backend that refuses connections releases the key
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        proxy_pass http://127.0.0.1:1/;
    }
--- pipelined_requests eval
[ ::delivery('/stripe/webhook'), ::delivery('/stripe/webhook') ]
--- more_headers eval: ::signed()
--- error_code eval
[502, 502]
--- error_log
answered 502: released for redelivery



=== TEST 7: a delivery while the event is in flight gets 409 and Retry-After
While the mirrored delivery waits on a slow backend, the same event
arrives again.
--- config eval
$::Config =~ s/(qbsync_verify on;)/$1\n        qbsync_inflight_lease 30s;/r
--- request eval: ::delivery('/first')
--- more_headers eval: ::signed() . "X-Test: /delay/1500"
--- error_code: 409
--- response_headers
Retry-After: 30
Content-Type: application/json
--- response_body chomp
{"error":"in_progress","message":"another delivery of this event is being processed; retry later"}
--- wait: 1.5



=== TEST 8: the same event id at another endpoint is another key
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT/ok;
    }
    location = /stripe/other-endpoint {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT/ok;
    }
--- pipelined_requests eval
[ ::delivery('/stripe/webhook'), ::delivery('/stripe/other-endpoint'),
  ::delivery('/stripe/other-endpoint') ]
--- more_headers eval: ::signed()
--- response_body eval
["backend\n", "backend\n",
 qq({"duplicate":true,"event":"evt_1QbsyncDedupe000000001"})]



=== TEST 9: a done key expires after qbsync_idempotency_ttl
--- config eval
$::Config =~ s/(qbsync_verify on;)/$1\n        qbsync_idempotency_ttl 1s;/r
--- pipelined_requests eval
[ ::delivery('/stripe/webhook'), ::delivery('/stripe/webhook'),
  ::delivery('/later') ]
--- more_headers eval: ::signed() . "X-Pause: 1500"
--- response_body eval
["backend\n", qq({"duplicate":true,"event":"evt_1QbsyncDedupe000000001"}),
 "backend\n"]



=== TEST 10: an in-flight key whose lease ran out is taken over
The mirrored delivery hangs on the backend past its lease; the later one
is let through as if the first had died with its worker.
--- config eval
$::Config =~ s/(qbsync_verify on;)/$1\n        qbsync_inflight_lease 1s;/r
          =~ s/proxy_read_timeout 1s;/proxy_read_timeout 3s;/r
--- request eval: ::delivery('/first')
--- more_headers eval: ::signed() . "X-Test: /delay/2500\nX-Pause: 1500"
--- response_body
delayed 2500
--- timeout: 6
--- wait: 1
--- error_log
completed after its in-flight lease expired
