# A correctly signed body that is not a Stripe event is refused with a
# message that names what is wrong; the backend never sees it.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
master_on();
use lib 't/lib';
use Qbsync::Stripe;

# A delivery of the given body, signed with the test secret.
sub ::delivery { "POST /stripe/webhook\n$_[0]" }
sub ::signed { Qbsync::Stripe::headers($_[0]) }

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', 'qbsync_zone qbsync:1m;');

    $block->set_value('config', <<'_EOC_');
    location = /stripe/webhook {
        qbsync_verify on;
        qbsync_webhook_secret whsec_qbsync_test_secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }

    location = /backend {
        return 200 "backend\n";
    }
_EOC_

    if (!defined $block->error_code) {
        $block->set_value('error_code', 400);
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an empty body is not JSON
--- request
POST /stripe/webhook
--- more_headers eval: ::signed('')
--- response_body chomp
{"error":"invalid_json","message":"invalid JSON: empty body"}



=== TEST 2: a truncated body is not JSON
--- request eval: ::delivery('{"id":"evt_1","type":"product.updated"')
--- more_headers eval: ::signed('{"id":"evt_1","type":"product.updated"')
--- response_body_like: ^\{"error":"invalid_json","message":"invalid JSON: [^"]+"\}$



=== TEST 3: trailing garbage after the event is not JSON
--- request eval
::delivery(Qbsync::Stripe::event() . ' {}')
--- more_headers eval
::signed(Qbsync::Stripe::event() . ' {}')
--- response_body_like: "error":"invalid_json"



=== TEST 4: invalid UTF-8 in a string is not JSON
--- request eval
(my $e = Qbsync::Stripe::event(type => 'product.XX')) =~ s/XX/\xff/;
::delivery($e)
--- more_headers eval
(my $e = Qbsync::Stripe::event(type => 'product.XX')) =~ s/XX/\xff/;
::signed($e)
--- response_body_like: "error":"invalid_json"



=== TEST 5: an array is not an event
--- request eval: ::delivery('[1,2,3]')
--- more_headers eval: ::signed('[1,2,3]')
--- response_body chomp
{"error":"invalid_event","message":"event: expected an object"}



=== TEST 6: an event without an id
--- request eval
::delivery('{"type":"product.updated","created":1,"data":{"object":{}}}')
--- more_headers eval
::signed('{"type":"product.updated","created":1,"data":{"object":{}}}')
--- response_body chomp
{"error":"invalid_event","message":"id: expected a string"}



=== TEST 7: an id without the evt_ prefix
--- request eval
::delivery(Qbsync::Stripe::event(id => 'prod_QXg1hqf4jFNsqG'))
--- more_headers eval
::signed(Qbsync::Stripe::event(id => 'prod_QXg1hqf4jFNsqG'))
--- response_body chomp
{"error":"invalid_event","message":"id: expected an evt_ prefix"}



=== TEST 8: a numeric id
--- request eval
::delivery('{"id":42,"type":"product.updated","created":1,"data":{"object":{}}}')
--- more_headers eval
::signed('{"id":42,"type":"product.updated","created":1,"data":{"object":{}}}')
--- response_body chomp
{"error":"invalid_event","message":"id: expected a string"}



=== TEST 9: an id longer than any Stripe id
--- request eval
::delivery(Qbsync::Stripe::event(id => 'evt_' . ('x' x 300)))
--- more_headers eval
::signed(Qbsync::Stripe::event(id => 'evt_' . ('x' x 300)))
--- response_body chomp
{"error":"invalid_event","message":"id: too long"}



=== TEST 10: an event without a type
--- request eval
::delivery('{"id":"evt_1","created":1,"data":{"object":{}}}')
--- more_headers eval
::signed('{"id":"evt_1","created":1,"data":{"object":{}}}')
--- response_body chomp
{"error":"invalid_event","message":"type: expected a string"}



=== TEST 11: a fractional created
--- request eval
::delivery('{"id":"evt_1","type":"product.updated","created":1.5,"data":{"object":{}}}')
--- more_headers eval
::signed('{"id":"evt_1","type":"product.updated","created":1.5,"data":{"object":{}}}')
--- response_body chomp
{"error":"invalid_event","message":"created: expected an integer"}



=== TEST 12: a created given as a string
--- request eval
::delivery('{"id":"evt_1","type":"product.updated","created":"1","data":{"object":{}}}')
--- more_headers eval
::signed('{"id":"evt_1","type":"product.updated","created":"1","data":{"object":{}}}')
--- response_body chomp
{"error":"invalid_event","message":"created: expected an integer"}



=== TEST 13: an event without data
--- request eval
::delivery('{"id":"evt_1","type":"product.updated","created":1}')
--- more_headers eval
::signed('{"id":"evt_1","type":"product.updated","created":1}')
--- response_body chomp
{"error":"invalid_event","message":"data: expected an object"}



=== TEST 14: data.object that is not an object
--- request eval
::delivery('{"id":"evt_1","type":"product.updated","created":1,"data":{"object":[]}}')
--- more_headers eval
::signed('{"id":"evt_1","type":"product.updated","created":1,"data":{"object":[]}}')
--- response_body chomp
{"error":"invalid_event","message":"data.object: expected an object"}



=== TEST 15: an id given twice is ambiguous
--- request eval
::delivery('{"id":"evt_1","id":"evt_2","type":"t","created":1,"data":{"object":{}}}')
--- more_headers eval
::signed('{"id":"evt_1","id":"evt_2","type":"t","created":1,"data":{"object":{}}}')
--- response_body chomp
{"error":"invalid_event","message":"id: duplicate key"}



=== TEST 16: the first problem in reading order is reported
--- request eval
::delivery('{"created":"x","data":7}')
--- more_headers eval
::signed('{"created":"x","data":7}')
--- response_body chomp
{"error":"invalid_event","message":"id: expected a string"}



=== TEST 17: names with quotes, control characters and emoji pass through
--- request eval
::delivery(Qbsync::Stripe::event(object => Qbsync::Stripe::product(
    name => "Caf\x{e9} \"Deluxe\"\t\x{1f355}:\n")))
--- more_headers eval
::signed(Qbsync::Stripe::event(object => Qbsync::Stripe::product(
    name => "Caf\x{e9} \"Deluxe\"\t\x{1f355}:\n")))
--- error_code: 200
--- response_body
backend



=== TEST 18: deep nesting elsewhere in the event is fine
--- request eval
::delivery(Qbsync::Stripe::event(object => Qbsync::Stripe::product(
    metadata => { deep => eval { my $x = 1; $x = [$x] for 1 .. 500; $x } })))
--- more_headers eval
::signed(Qbsync::Stripe::event(object => Qbsync::Stripe::product(
    metadata => { deep => eval { my $x = 1; $x = [$x] for 1 .. 500; $x } })))
--- error_code: 200
--- response_body
backend
