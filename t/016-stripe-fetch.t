# With qbsync_stripe, an event is only a signal: the product is read from
# Stripe's API with its default price expanded (here the simulator plays
# Stripe), so the order of events and missing price events do not matter.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
master_on();
use lib 't/lib';
use Qbsync::Sim;
use Qbsync::Webhook;

Qbsync::Sim::start();

# what Stripe's API holds, and what the events say (less, or stale)
our %Stripe = (
    products => [ Qbsync::Webhook::product(default_price => 'price_QbsyncTshirt01',
                                           name => 'T-shirt from Stripe') ],
    prices   => [ Qbsync::Webhook::price(unit_amount_decimal => '2500') ],
);

our $ProductEvent = Qbsync::Webhook::event(type => 'product.updated',
    object => Qbsync::Webhook::product(name => 'Stale name in the event'));
our $PriceEvent = Qbsync::Webhook::event(type => 'price.updated',
    object => Qbsync::Webhook::price(unit_amount_decimal => '1'));

add_block_preprocessor(sub {
    Qbsync::Webhook::defaults(shift, stripe => 1);
});

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a product event syncs the product as Stripe's API has it
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [stripe => \%::Stripe],
                          [deliver => $::ProductEvent], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [stripe => {}],
                         [deliver => $::ProductEvent], ['state'])
--- response_body_like eval
['"realm"', '"products"', '^\{"event":"evt_\w+","action":"created","qb_item_id":"1"\}$',
 '"Name":"T-shirt from Stripe".*"UnitPrice":25,.*"stripe_product":1,']



=== TEST 2: a price event syncs its product from Stripe
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [stripe => \%::Stripe],
                          [deliver => $::PriceEvent], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [stripe => {}],
                         [deliver => $::PriceEvent], ['state'])
--- response_body_like eval
['"realm"', '"products"', '"action":"created"', '"UnitPrice":25,']



=== TEST 3: a product gone from Stripe deactivates its item
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [stripe => \%::Stripe],
    [deliver => $::ProductEvent],
    [stripe => { remove => ['prod_QbsyncTshirt01'] }],
    [deliver => Qbsync::Webhook::event(type => 'product.deleted',
        object => { id => 'prod_QbsyncTshirt01', object => 'product',
                    deleted => JSON::PP::true })],
    ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [stripe => {}],
    [deliver => $::ProductEvent], [stripe => {}],
    [deliver => Qbsync::Webhook::event(type => 'product.deleted',
        object => { id => 'prod_QbsyncTshirt01', object => 'product',
                    deleted => JSON::PP::true })],
    ['state'])
--- response_body_like eval
['"realm"', '"products"', '"action":"created"', '"products"',
 '"action":"deactivated"', '"Active":false']



=== TEST 4: Stripe's API failing once is tried again within the delivery
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [stripe => \%::Stripe],
    [faults => [{ path => '/v1/products/', count => 1, status => 500 }]],
    [deliver => $::ProductEvent])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [stripe => {}], [faults => []],
    [deliver => $::ProductEvent])
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
['"realm"', '"products"', '"rules"', '"action":"created"']
--- error_log
Stripe answered 500 for product "prod_QbsyncTshirt01"; try 2 of 3 in 250 ms



=== TEST 5: Stripe's API down is a 503, and the redelivery syncs
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [stripe => \%::Stripe],
    [faults => [{ path => '/v1/products/', count => 3, status => 500 }]],
    [deliver => $::ProductEvent], [deliver => $::ProductEvent])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [stripe => {}], [faults => []],
    [deliver => $::ProductEvent], [deliver => $::ProductEvent])
--- error_code eval
[200, 200, 200, 503, 200]
--- response_body_like eval
['"realm"', '"products"', '"rules"',
 '^\{"error":"stripe_unavailable","message":"Stripe.s API could not be reached; retry later"\}$',
 '"action":"created"']
--- error_log eval
[qr/Stripe answered 500 for product "prod_QbsyncTshirt01"; try 3 of 3 in 500 ms/,
 qr/Stripe answered 500 for product "prod_QbsyncTshirt01"(?!;)/]



=== TEST 6: the Stripe key is sent, never logged
nginx's own debug log prints the headers a proxy sends, the key among
them: production logs stay at info or above (docs/operations.md).
--- log_level: info
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => { stripe_key => 'sk_test_other' }],
    [stripe => \%::Stripe], [deliver => $::ProductEvent])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [stripe => {}],
    [deliver => $::ProductEvent])
--- error_code eval
[200, 200, 503]
--- error_log
Stripe answered 401 for product
--- no_error_log
sk_test_qbsync
