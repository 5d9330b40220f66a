# A full zone evicts the oldest completed keys and goes on; only when
# every key is in flight is a delivery refused, with 503 zone_full.
#
# The zone is the smallest allowed (8 pages) and the event ids the longest
# allowed (255 bytes), so about 40 keys fit.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
master_on();
use lib 't/lib';
use Qbsync::Stripe;
use Qbsync::Backend;

Qbsync::Backend::start();

sub ::event_id { sprintf('evt_%04d', $_[0]) . ('k' x 247) }
sub ::event { Qbsync::Stripe::event(id => ::event_id($_[0])) }

our @Events = map { ::event($_) } 1 .. 60;

worker_connections(1024);
check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: filling the zone evicts the oldest done keys, warning once
Sixty events, then the first again (evicted: it reaches the backend) and
the last again (still known: a duplicate).
--- http_config
    qbsync_zone qbsync:32k;
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT/ok;
    }
--- pipelined_requests eval
[ map({ "POST /stripe/webhook\n$_" } @::Events, $::Events[0], $::Events[-1]) ]
--- more_headers eval
[ map({ Qbsync::Stripe::headers($_) } @::Events, $::Events[0], $::Events[-1]) ]
--- response_body eval
[ ("backend\n") x 61,
  '{"duplicate":true,"event":"' . ::event_id(60) . '"}' ]
--- grep_error_log: is full: evicting the oldest completed event ids
--- grep_error_log_out
is full: evicting the oldest completed event ids
--- timeout: 10



=== TEST 2: when every key is in flight, a new event gets 503 zone_full
80 deliveries to 80 endpoints (80 keys) wait on a slow backend; an 81st
endpoint then finds no room.  Two fan-out requests of 40 mirrors each
(new requests to nginx itself: a subrequest does not mirror) make the
80, as one request may have only 50 subrequests.
--- http_config
    qbsync_zone qbsync:32k;
--- config eval
my $gates = CORE::join '', map { <<"_EOC_" } 1 .. 81;
    location = /gate/$_ {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        qbsync_inflight_lease 20s;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_BACKEND_PORT/delay/2000;
    }
_EOC_

my @halves = map {
    my $half = $_;
    my $mirrors = CORE::join '',
        map { "        mirror /mirrored/" . ($half * 40 + $_) . ";\n" } 1 .. 40;
    <<"_EOC_";
    location = /half/$half {
$mirrors
        mirror_request_body on;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_BACKEND_PORT/ok;
    }
_EOC_
} 0, 1;

$gates . CORE::join('', @halves) . <<"_EOC_";
    location = /fanout {
        mirror /split/0;
        mirror /split/1;
        mirror_request_body on;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/later;
    }

    location ~ ^/split/(\\d)\$ {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/half/\$1;
    }

    location ~ ^/mirrored/(\\d+)\$ {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/gate/\$1;
    }

    location = /later {
        auth_request /pause;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/gate/81;
    }

    location = /pause {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_BACKEND_PORT/delay/700;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
    }
_EOC_
--- request eval: "POST /fanout\n$::Events[0]"
--- more_headers eval: Qbsync::Stripe::headers($::Events[0])
--- error_code: 503
--- response_headers
Retry-After: 20
Content-Type: application/json
--- response_body chomp
{"error":"zone_full","message":"every idempotency key is in flight; retry later"}
--- error_log
has no room: every key is in flight
--- timeout: 5
--- wait: 2
