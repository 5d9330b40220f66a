# The gate refuses every delivery that Stripe did not sign, in the
# documented order, and lets a signed one through to the backend.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
master_on();
use lib 't/lib';
use Qbsync::Stripe;

our $Event = Qbsync::Stripe::event(id => 'evt_1QbsyncSignature00001');
our $Now = time;

# A request line and body for a delivery of $Event.
sub ::delivery { "POST /stripe/webhook\n" . ($_[0] // $Event) }

# Signed headers for $Event (or a given body), with options for
# Qbsync::Stripe::signature.
sub ::signed { Qbsync::Stripe::headers($_[0] // $Event, @_[1 .. $#_]) }

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', 'qbsync_zone qbsync:1m;');
    }

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        add_header X-Qbsync-Status $qbsync_verify_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }

    location = /backend {
        return 200 "backend\n";
    }
_EOC_
    }
});

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a signed delivery reaches the backend
--- request eval: ::delivery()
--- more_headers eval: ::signed()
--- response_body
backend
--- response_headers
X-Qbsync-Status: verified
--- no_error_log
whsec_qbsync_test_secret
[error]



=== TEST 2: GET is refused with 405 and Allow: POST
--- request
GET /stripe/webhook
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/json
X-Qbsync-Status: method_not_allowed
--- response_body chomp
{"error":"method_not_allowed","message":"webhook deliveries must be POST requests"}



=== TEST 3: PUT is refused even when signed
--- request eval: "PUT /stripe/webhook\n$::Event"
--- more_headers eval: ::signed()
--- error_code: 405
--- response_body_like: "error":"method_not_allowed"



=== TEST 4: the method is checked before the signature
--- request
DELETE /stripe/webhook
--- more_headers
Content-Type: text/plain
--- error_code: 405
--- response_body_like: "error":"method_not_allowed"



=== TEST 5: a body without Content-Type is refused with 415
--- request eval: ::delivery()
--- more_headers eval
"Stripe-Signature: " . Qbsync::Stripe::signature($::Event)
--- error_code: 415
--- response_body chomp
{"error":"unsupported_media_type","message":"webhook deliveries must have Content-Type: application/json"}



=== TEST 6: text/plain is refused with 415
--- request eval: ::delivery()
--- more_headers eval
"Content-Type: text/plain\nStripe-Signature: "
. Qbsync::Stripe::signature($::Event)
--- error_code: 415
--- response_body_like: "error":"unsupported_media_type"



=== TEST 7: a longer media type that starts like JSON is refused
--- request eval: ::delivery()
--- more_headers eval
"Content-Type: application/jsonp\nStripe-Signature: "
. Qbsync::Stripe::signature($::Event)
--- error_code: 415
--- response_body_like: "error":"unsupported_media_type"



=== TEST 8: a charset parameter and another letter case are accepted
--- request eval: ::delivery()
--- more_headers eval
"Content-Type: Application/JSON; charset=utf-8\nStripe-Signature: "
. Qbsync::Stripe::signature($::Event)
--- response_body
backend



=== TEST 9: the content type is checked before the signature
--- request eval: ::delivery()
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 415
--- response_body_like: "error":"unsupported_media_type"



=== TEST 10: no Stripe-Signature header is refused
--- request eval: ::delivery()
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
X-Qbsync-Status: missing_signature
--- response_body chomp
{"error":"missing_signature","message":"the Stripe-Signature header is missing or empty"}



=== TEST 11: an empty Stripe-Signature header is refused as missing
--- request eval: ::delivery()
--- more_headers
Content-Type: application/json
Stripe-Signature:
--- error_code: 400
--- response_body_like: "error":"missing_signature"



=== TEST 12: a header without t is malformed
--- request eval: ::delivery()
--- more_headers eval
my $sig = Qbsync::Stripe::signature($::Event);
$sig =~ s/^t=\d+,//;
"Content-Type: application/json\nStripe-Signature: $sig"
--- error_code: 400
--- response_body chomp
{"error":"malformed_signature","message":"the Stripe-Signature header needs one decimal t and key=value elements"}



=== TEST 13: a header with two t is malformed
--- request eval: ::delivery()
--- more_headers eval
"Content-Type: application/json\nStripe-Signature: t=$::Now,"
. Qbsync::Stripe::signature($::Event, t => $::Now)
--- error_code: 400
--- response_body_like: "error":"malformed_signature"



=== TEST 14: a t that is not a decimal integer is malformed
--- request eval: ::delivery()
--- more_headers eval
my $sig = Qbsync::Stripe::signature($::Event);
$sig =~ s/^t=(\d+)/t=$1.5/;
"Content-Type: application/json\nStripe-Signature: $sig"
--- error_code: 400
--- response_body_like: "error":"malformed_signature"



=== TEST 15: an element without = is malformed
--- request eval: ::delivery()
--- more_headers eval
"Content-Type: application/json\nStripe-Signature: "
. Qbsync::Stripe::signature($::Event) . ",v1"
--- error_code: 400
--- response_body_like: "error":"malformed_signature"



=== TEST 16: a header with only v0 has no v1 signature
--- request eval: ::delivery()
--- more_headers eval
my $sig = Qbsync::Stripe::signature($::Event);
$sig =~ s/v1=/v0=/;
"Content-Type: application/json\nStripe-Signature: $sig"
--- error_code: 400
--- response_body chomp
{"error":"no_v1_signature","message":"the Stripe-Signature header has no v1 signature of 64 hex digits"}



=== TEST 17: a v1 that is not 64 hex digits is skipped
--- request eval: ::delivery()
--- more_headers eval
my $sig = Qbsync::Stripe::signature($::Event);
$sig =~ s/(v1=[0-9a-f]{63})[0-9a-f]/$1/;
"Content-Type: application/json\nStripe-Signature: $sig,v1=zz"
--- error_code: 400
--- response_body_like: "error":"no_v1_signature"



=== TEST 18: a timestamp older than the tolerance is refused
--- request eval: ::delivery()
--- more_headers eval: ::signed(undef, t => $::Now - 400)
--- error_code: 400
--- response_headers
X-Qbsync-Status: timestamp_out_of_tolerance
--- response_body chomp
{"error":"timestamp_out_of_tolerance","message":"the signature timestamp is outside the tolerance"}



=== TEST 19: a timestamp further in the future than the tolerance is refused
--- request eval: ::delivery()
--- more_headers eval: ::signed(undef, t => $::Now + 400)
--- error_code: 400
--- response_body_like: "error":"timestamp_out_of_tolerance"



=== TEST 20: a timestamp within the tolerance is accepted
--- request eval: ::delivery()
--- more_headers eval: ::signed(undef, t => $::Now - 200)
--- response_body
backend



=== TEST 21: qbsync_webhook_tolerance narrows the window
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        qbsync_webhook_tolerance 10s;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend { return 200 "backend\n"; }
--- request eval: ::delivery()
--- more_headers eval: ::signed(undef, t => $::Now - 60)
--- error_code: 400
--- response_body_like: "error":"timestamp_out_of_tolerance"



=== TEST 22: the timestamp is checked before the MAC: a stale forgery is stale
--- request eval: ::delivery()
--- more_headers eval
::signed(undef, t => $::Now - 400, secret => 'whsec_attacker')
--- error_code: 400
--- response_body_like: "error":"timestamp_out_of_tolerance"



=== TEST 23: a signature made with another secret is a mismatch
--- request eval: ::delivery()
--- more_headers eval: ::signed(undef, secret => 'whsec_attacker')
--- error_code: 400
--- response_headers
X-Qbsync-Status: signature_mismatch
--- response_body chomp
{"error":"signature_mismatch","message":"no v1 signature matches the body for any endpoint secret"}
--- no_error_log
whsec_qbsync_test_secret



=== TEST 24: a tampered body is a mismatch
--- request eval
my $tampered = $::Event;
$tampered =~ s/"T-shirt"/"Free T-shirt"/ or die;
"POST /stripe/webhook\n$tampered"
--- more_headers eval: ::signed()
--- error_code: 400
--- response_body_like: "error":"signature_mismatch"



=== TEST 25: a one-byte change in the body is a mismatch
--- request eval
my $changed = $::Event;
substr($changed, 10, 1) = chr(ord(substr($changed, 10, 1)) ^ 1);
"POST /stripe/webhook\n$changed"
--- more_headers eval: ::signed()
--- error_code: 400
--- response_body_like: "error":"signature_mismatch"



=== TEST 26: a forged body is never parsed: broken JSON is still a mismatch
--- request
POST /stripe/webhook
{"id": "evt_broken",
--- more_headers eval: ::signed('{"id": "evt_other"}')
--- error_code: 400
--- response_body_like: "error":"signature_mismatch"



=== TEST 27: during a rotation every configured secret is tried
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_old_secret;
        qbsync_webhook_secret whsec_new_secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend { return 200 "backend\n"; }
--- pipelined_requests eval
[ ::delivery(), ::delivery(), ::delivery() ]
--- more_headers eval
[ ::signed(undef, secret => 'whsec_old_secret'),
  ::signed(undef, secrets => ['whsec_other', 'whsec_new_secret']),
  ::signed(undef, secrets => ['whsec_other', 'whsec_third']) ]
--- error_code eval
[200, 200, 400]
--- response_body_like eval
["backend", '"duplicate":true', '"error":"signature_mismatch"']



=== TEST 28: one valid v1 among several, with v0 and unknown schemes
--- request eval: ::delivery()
--- more_headers eval
my $sig = Qbsync::Stripe::signature($::Event);
my ($t, $v1) = $sig =~ /^t=(\d+),v1=(\w+)$/;
"Content-Type: application/json\nStripe-Signature: t=$t,v0=" . ('0' x 64)
. ',v1=' . ('a' x 64) . ",v2=abc,v1=$v1,v1=" . ('b' x 64)
--- response_body
backend



=== TEST 29: secrets from a file, with comments, blank lines and spaces
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret_file $TEST_NGINX_SERVER_ROOT/html/stripe.secrets;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend { return 200 "backend\n"; }
--- user_files
>>> stripe.secrets
# rolled on 2026-11-01; the old one expires in 24h
   whsec_old_secret

	whsec_qbsync_test_secret   
--- request eval: ::delivery()
--- more_headers eval: ::signed()
--- response_body
backend
--- no_error_log
whsec_old_secret
whsec_qbsync_test_secret



=== TEST 30: a body of 1 MB spooled to disk is verified
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        client_max_body_size 2m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend { return 200 "backend\n"; }
--- request eval
"POST /stripe/webhook\n"
. Qbsync::Stripe::event(id => 'evt_1QbsyncLargeBody000001',
    object => Qbsync::Stripe::product(description => 'x' x (1024 * 1024)))
--- more_headers eval
::signed(Qbsync::Stripe::event(id => 'evt_1QbsyncLargeBody000001',
    object => Qbsync::Stripe::product(description => 'x' x (1024 * 1024))))
--- response_body
backend
--- error_log
a client request body is buffered to a temporary file



=== TEST 31: a body just over client_max_body_size gets nginx's own 413
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        client_max_body_size 1k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- request eval
"POST /stripe/webhook\n" . ('x' x 1025)
--- more_headers eval: ::signed('x' x 1025)
--- error_code: 413
--- response_body_like: 413 Request Entity Too Large



=== TEST 32: a chunked body is verified
--- request eval
my $half = int(length($::Event) / 2);
"POST /stripe/webhook\n"
. sprintf("%x\r\n%s\r\n", $half, substr($::Event, 0, $half))
. sprintf("%x\r\n%s\r\n", length($::Event) - $half, substr($::Event, $half))
. "0\r\n\r\n"
--- more_headers eval: ::signed() . "Transfer-Encoding: chunked"
--- response_body
backend



=== TEST 33: access rules run before the gate
--- config
    location = /stripe/webhook {
        deny all;
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend { return 200 "backend\n"; }
--- request eval: ::delivery()
--- error_code: 403
--- response_body_like: 403 Forbidden



=== TEST 34: return in the same location acts before the gate
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        return 204;
    }
--- request
GET /stripe/webhook
--- error_code: 204
--- response_body



=== TEST 35: qbsync_verify off in a nested location
--- config
    location /stripe/ {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;

        location = /stripe/health {
            qbsync_verify off;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
        }
    }
    location = /backend { return 200 "backend\n"; }
--- pipelined_requests eval
["GET /stripe/health", "GET /stripe/webhook"]
--- error_code eval
[200, 405]



=== TEST 36: settings given at the server level are inherited
--- config
    qbsync_verify on;
    qbsync_webhook_secret whsec_qbsync_test_secret;

    location = /stripe/webhook {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend {
        qbsync_verify off;
        return 200 "backend\n";
    }
--- pipelined_requests eval
[ ::delivery(), "GET /stripe/webhook" ]
--- more_headers eval: ::signed()
--- error_code eval
[200, 405]



=== TEST 37: the variables describe the delivery
--- http_config
    qbsync_zone qbsync:1m;
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        add_header X-Event-Id $qbsync_event_id;
        add_header X-Event-Type $qbsync_event_type;
        add_header X-Status $qbsync_verify_status;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend { return 200 "backend\n"; }
--- request eval: ::delivery()
--- more_headers eval: ::signed()
--- response_headers
X-Event-Id: evt_1QbsyncSignature00001
X-Event-Type: product.updated
X-Status: verified



=== TEST 38: the gate runs once across an internal redirect
--- config
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        try_files /nonexistent @second;
    }
    location @second {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        rewrite ^ /backend break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
    location = /backend { return 200 "backend\n"; }
--- pipelined_requests eval
[ ::delivery(), ::delivery() ]
--- more_headers eval: ::signed()
--- response_body_like eval
["backend", '"duplicate":true']
--- grep_error_log eval: qr/qbsync: event "evt_\w+" \(product.updated\): \w+/
--- grep_error_log_out
qbsync: event "evt_1QbsyncSignature00001" (product.updated): verified
qbsync: event "evt_1QbsyncSignature00001" (product.updated): duplicate
