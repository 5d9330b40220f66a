# Mistakes in the configuration stop nginx from starting, instead of
# leaving a webhook location that lets everything through or nothing.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
master_on();

add_block_preprocessor(sub {
    my $block = shift;

    if (defined $block->must_die && !defined $block->config) {
        $block->set_value('config', '');
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a working configuration starts
--- http_config
    qbsync_zone qbsync:1m;
    qbsync_zone other:64k;
--- config
    location = /stripe/webhook {
        qbsync_verify zone=other;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        qbsync_webhook_tolerance 5m;
        qbsync_idempotency_ttl 4d;
        qbsync_inflight_lease 90s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend { return 200 "backend\n"; }
--- request
GET /backend
--- response_body
backend



=== TEST 2: qbsync_verify without any qbsync_zone
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
    }
--- must_die



=== TEST 3: qbsync_verify naming an unknown zone
--- http_config
    qbsync_zone qbsync:1m;
--- config
    location = /stripe/webhook {
        qbsync_verify zone=missing;
        qbsync_webhook_secret whsec_qbsync_test_secret;
    }
--- must_die



=== TEST 4: qbsync_verify without a secret
--- http_config
    qbsync_zone qbsync:1m;
--- config
    location = /stripe/webhook {
        qbsync_verify on;
    }
--- must_die



=== TEST 5: a zone smaller than eight pages
--- http_config
    qbsync_zone qbsync:16k;
--- must_die



=== TEST 6: a zone without a size
--- http_config
    qbsync_zone qbsync;
--- must_die



=== TEST 7: the same zone declared twice
--- http_config
    qbsync_zone qbsync:1m;
    qbsync_zone qbsync:1m;
--- must_die



=== TEST 8: an invalid qbsync_verify value
--- http_config
    qbsync_zone qbsync:1m;
--- config
    location = /stripe/webhook {
        qbsync_verify yes;
        qbsync_webhook_secret whsec_qbsync_test_secret;
    }
--- must_die



=== TEST 9: a secret file that does not exist
--- http_config
    qbsync_zone qbsync:1m;
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret_file /nonexistent/stripe.secrets;
    }
--- must_die



=== TEST 10: a secret file with only comments
--- http_config
    qbsync_zone qbsync:1m;
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret_file $TEST_NGINX_SERVER_ROOT/html/empty.secrets;
    }
--- user_files
>>> empty.secrets
# nothing here yet

--- must_die



=== TEST 11: a tolerance that is not a time
--- http_config
    qbsync_zone qbsync:1m;
--- config
    qbsync_webhook_tolerance soon;
--- must_die



=== TEST 12: a zero idempotency ttl
--- http_config
    qbsync_zone qbsync:1m;
--- config
    qbsync_idempotency_ttl 0;
--- must_die



=== TEST 13: qbsync_zone outside the http block's top level
--- config
    qbsync_zone qbsync:1m;
--- must_die



=== TEST 14: qbsync_webhook without qbsync_quickbooks
--- http_config
    qbsync_zone qbsync:1m;
--- config
    location = /stripe/qbsync {
        qbsync_webhook on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        qbsync_oauth /_qbsync/oauth client_id=c
                     client_secret_file=$TEST_NGINX_SERVER_ROOT/html/qbo.secret
                     token_file=$TEST_NGINX_SERVER_ROOT/html/tokens.json;
        qbsync_item type=Service income_account=79 expense_account=80
                    currency=usd;
    }
--- user_files
>>> qbo.secret
secret
>>> tokens.json
{"refresh_token":"rt"}
--- must_die



=== TEST 15: an item type QuickBooks items cannot have here
--- http_config
    qbsync_zone qbsync:1m;
--- config
    qbsync_item type=Inventory income_account=79 expense_account=80
                currency=usd;
--- must_die



=== TEST 16: qbsync_verify and qbsync_webhook in one location
--- http_config
    qbsync_zone qbsync:1m;
--- config
    location = /stripe/qbsync {
        qbsync_verify on;
        qbsync_webhook on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
    }
--- must_die



=== TEST 17: one realm from two zones
--- http_config
    qbsync_zone one:1m;
    qbsync_zone two:1m;
--- config
    qbsync_webhook_secret whsec_qbsync_test_secret;
    qbsync_quickbooks /_qbsync/qbo realm=9341453201;
    qbsync_item type=Service income_account=79 expense_account=80
                currency=usd;
    qbsync_oauth /_qbsync/oauth client_id=c
                 client_secret_file=$TEST_NGINX_SERVER_ROOT/html/qbo.secret
                 token_file=$TEST_NGINX_SERVER_ROOT/html/tokens.json;

    location = /a { qbsync_webhook zone=one; }
    location = /b { qbsync_webhook zone=two; }
--- user_files
>>> qbo.secret
secret
>>> tokens.json
{"refresh_token":"rt"}
--- must_die



=== TEST 18: a token file that does not exist
--- http_config
    qbsync_zone qbsync:1m;
--- config
    location = /stripe/qbsync {
        qbsync_webhook on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        qbsync_quickbooks /_qbsync/qbo realm=9341453201;
        qbsync_oauth /_qbsync/oauth client_id=c
                     client_secret_file=$TEST_NGINX_SERVER_ROOT/html/qbo.secret
                     token_file=$TEST_NGINX_SERVER_ROOT/html/missing.json;
        qbsync_item type=Service income_account=79 expense_account=80
                    currency=usd;
    }
--- user_files
>>> qbo.secret
secret
--- must_die



=== TEST 19: qbsync_oauth without a token file
--- http_config
    qbsync_zone qbsync:1m;
--- config
    qbsync_oauth /_qbsync/oauth client_id=c
                 client_secret_file=$TEST_NGINX_SERVER_ROOT/html/qbo.secret;
--- user_files
>>> qbo.secret
secret
--- must_die



=== TEST 20: a Stripe key file with two keys
--- http_config
    qbsync_zone qbsync:1m;
--- config
    qbsync_stripe /_qbsync/stripe key_file=$TEST_NGINX_SERVER_ROOT/html/stripe.key;
--- user_files
>>> stripe.key
sk_live_one
sk_live_two
--- must_die



=== TEST 21: a realm that is not a number
--- http_config
    qbsync_zone qbsync:1m;
--- config
    qbsync_quickbooks /_qbsync/qbo realm=acme;
--- must_die



=== TEST 22: an unknown qbsync_livemode
--- config
    qbsync_livemode production;
--- must_die



=== TEST 23: an unknown qbsync_retry strategy
--- config
    qbsync_retry strategy=random;
--- must_die



=== TEST 24: jitter= without strategy=jitter
--- config
    qbsync_retry strategy=linear jitter=decorrelated;
--- must_die



=== TEST 25: a retry budget longer than Stripe waits
--- config
    qbsync_retry budget=30s;
--- must_die



=== TEST 26: a retry max below its base
--- config
    qbsync_retry base=2s max=1s;
--- must_die



=== TEST 27: no attempt at all
--- config
    qbsync_retry attempts=0;
--- must_die



=== TEST 28: qbsync_retry twice in one location
--- config
    location = /t {
        qbsync_retry attempts=2;
        qbsync_retry attempts=3;
    }
--- must_die



=== TEST 29: a rate that is not one
--- config
    qbsync_rate_limit 500/min;
--- must_die



=== TEST 30: a concurrency above 32
--- config
    qbsync_rate_limit concurrency=64;
--- must_die



=== TEST 31: two different limits for one realm
--- http_config
    qbsync_zone qbsync:1m;
--- config
    qbsync_webhook_secret whsec_qbsync_test_secret;
    qbsync_quickbooks /_qbsync/qbo realm=9341453201 minorversion=75;
    qbsync_oauth /_qbsync/oauth client_id=ABc123
                 client_secret_file=$TEST_NGINX_SERVER_ROOT/html/qbo.secret
                 token_file=$TEST_NGINX_SERVER_ROOT/html/tokens.json;
    qbsync_item type=Service income_account=79 expense_account=80
                currency=usd;
    location = /a { qbsync_webhook on; qbsync_rate_limit 400r/m; }
    location = /b { qbsync_webhook on; qbsync_rate_limit 300r/m; }
--- user_files
>>> qbo.secret
secret
>>> tokens.json
{"refresh_token":"rt"}
--- must_die



=== TEST 32: a dead-letter admin without a dead-letter file
--- http_config
    qbsync_zone qbsync:1m;
--- config
    location = /qbsync/dead-letter { qbsync_dead_letter_admin; }
--- must_die



=== TEST 33: a dead-letter file the workers cannot create
--- http_config
    qbsync_zone qbsync:1m;
    qbsync_dead_letter /proc/qbsync/dead-letter.jsonl;
--- must_die



=== TEST 34: a complete webhook location starts
--- http_config
    qbsync_zone qbsync:1m;
--- config
    location = /stripe/qbsync {
        qbsync_webhook on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        qbsync_quickbooks /_qbsync/qbo realm=9341453201 minorversion=75;
        qbsync_oauth /_qbsync/oauth client_id=ABc123
                     client_secret_file=$TEST_NGINX_SERVER_ROOT/html/qbo.secret
                     token_file=$TEST_NGINX_SERVER_ROOT/html/tokens.json;
        qbsync_item type=NonInventory income_account=79 expense_account=80
                    currency=USD;
        qbsync_stripe /_qbsync/stripe
                      key_file=$TEST_NGINX_SERVER_ROOT/html/stripe.key;
        qbsync_livemode live;
        qbsync_retry strategy=jitter jitter=decorrelated attempts=4
                     base=200ms max=2s budget=5s;
        qbsync_rate_limit 8r/s concurrency=4 batch=30r/m cooldown=90s;
    }
    location = /t { return 200 "ok\n"; }
--- user_files
>>> qbo.secret
secret
>>> tokens.json
{"refresh_token":"rt"}
>>> stripe.key
# rotated 2026-11-01
sk_live_only
--- request
GET /t
--- response_body
ok
