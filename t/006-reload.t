# The dedupe keys live in shared memory and survive `nginx -s reload`:
# these blocks run against one nginx that is sent HUP between them.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
use lib 't/lib';
use Qbsync::Stripe;

our $Event = Qbsync::Stripe::event(id => 'evt_1QbsyncReload000000001');

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', 'qbsync_zone qbsync:1m;');
    $block->set_value('request', "POST /stripe/webhook\n$::Event");
    $block->set_value('more_headers', Qbsync::Stripe::headers($::Event));

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend { return 200 "backend\n"; }
_EOC_
    }
});

use_hup();
master_on();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the first delivery reaches the backend
--- response_body
backend



=== TEST 2: after a reload, the redelivery is a duplicate
--- response_body chomp
{"duplicate":true,"event":"evt_1QbsyncReload000000001"}



=== TEST 3: a reload that changes the location's other settings keeps it
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_rotated_secret;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        qbsync_webhook_tolerance 600s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend { return 200 "backend\n"; }
--- response_body chomp
{"duplicate":true,"event":"evt_1QbsyncReload000000001"}
