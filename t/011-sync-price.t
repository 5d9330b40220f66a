# UnitPrice comes from the product's default price, exactly: minor units
# over 10^exponent of the currency, never through a float.  Without
# qbsync_stripe the prices come from price events remembered in the zone.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
master_on();
use lib 't/lib';
use Qbsync::Sim;
use Qbsync::Webhook;

Qbsync::Sim::start();

sub ::price_event {
    my (%price) = @_;
    my $type = delete $price{type} // 'price.created';
    return Qbsync::Webhook::event(type => $type,
        created => delete $price{created},
        object => Qbsync::Webhook::price(%price));
}

sub ::product_event {
    my (%product) = @_;
    my $type = delete $product{type} // 'product.created';
    return Qbsync::Webhook::event(type => $type,
        created => delete $product{created},
        object => Qbsync::Webhook::product(
            default_price => 'price_QbsyncTshirt01', %product));
}

# price, then product: the item's UnitPrice as QuickBooks holds it
sub ::priced {
    my ($currency, $amount, %o) = @_;
    my $config_currency = $o{config} // $currency;
    return (
        [reset => {}],
        [deliver => ::price_event(currency => $currency,
                                  unit_amount_decimal => $amount, %o)],
        [deliver => ::product_event()],
        ['state'],
    );
}

add_block_preprocessor(sub { Qbsync::Webhook::defaults(shift) });

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: USD 1999 is 19.99
--- pipelined_requests eval: Qbsync::Webhook::requests(::priced('usd', '1999'))
--- more_headers eval: Qbsync::Webhook::headers(::priced('usd', '1999'))
--- response_body_like eval
['"realm"', '"action":"price_recorded"', '"action":"created"',
 '"UnitPrice":19.99,']



=== TEST 2: JPY 1000 is 1000, a zero-decimal currency
--- config eval
Qbsync::Webhook::config(item => 'type=Service income_account=79 '
                                . 'expense_account=80 currency=jpy')
--- pipelined_requests eval: Qbsync::Webhook::requests(::priced('jpy', '1000'))
--- more_headers eval: Qbsync::Webhook::headers(::priced('jpy', '1000'))
--- response_body_like eval
['"realm"', '"action":"price_recorded"', '"action":"created"',
 '"UnitPrice":1000,']



=== TEST 3: KWD 1500 is 1.5, a three-decimal currency
--- config eval
Qbsync::Webhook::config(item => 'type=Service income_account=79 '
                                . 'expense_account=80 currency=KWD')
--- pipelined_requests eval: Qbsync::Webhook::requests(::priced('kwd', '1500'))
--- more_headers eval: Qbsync::Webhook::headers(::priced('kwd', '1500'))
--- response_body_like eval
['"realm"', '"action":"price_recorded"', '"action":"created"',
 '"UnitPrice":1.5,']



=== TEST 4: a fractional unit_amount_decimal stays exact
--- pipelined_requests eval: Qbsync::Webhook::requests(::priced('usd', '1234.5678'))
--- more_headers eval: Qbsync::Webhook::headers(::priced('usd', '1234.5678'))
--- response_body_like eval
['"realm"', '"action":"price_recorded"', '"action":"created"',
 '"UnitPrice":12.345678,']



=== TEST 5: a price in another currency leaves UnitPrice alone, with a warning
--- pipelined_requests eval: Qbsync::Webhook::requests(::priced('eur', '1999'))
--- more_headers eval: Qbsync::Webhook::headers(::priced('eur', '1999'))
--- response_body_like eval
['"realm"', '"action":"price_recorded"',
 '"action":"created".*"warning":"the default price is in another currency',
 '"UnitPrice":0,']
--- error_log eval
qr/\[warn\] .*synced: created, item 1, but the default price is in another currency/



=== TEST 6: a tiered price leaves UnitPrice alone, with a warning
--- pipelined_requests eval
Qbsync::Webhook::requests(::priced('usd', undef, billing_scheme => 'tiered'))
--- more_headers eval
Qbsync::Webhook::headers(::priced('usd', undef, billing_scheme => 'tiered'))
--- response_body_like eval
['"realm"', '"action":"price_recorded"',
 '"action":"created".*"warning":"the default price has no unit amount',
 '"UnitPrice":0,']



=== TEST 7: a change of the default price updates the item's UnitPrice
--- pipelined_requests eval
my @steps = (::priced('usd', '1999'));
splice @steps, 3, 0, [deliver => ::price_event(unit_amount_decimal => '2499',
                                               type => 'price.updated')];
Qbsync::Webhook::requests(@steps)
--- more_headers eval
my @steps = (::priced('usd', '1999'));
splice @steps, 3, 0, [deliver => ::price_event(unit_amount_decimal => '2499',
                                               type => 'price.updated')];
Qbsync::Webhook::headers(@steps)
--- response_body_like eval
['"realm"', '"action":"price_recorded"', '"action":"created"',
 '"action":"updated"', '"UnitPrice":24.99,.*"update":1,']



=== TEST 8: a price the product does not use is only recorded
--- pipelined_requests eval
my @steps = (::priced('usd', '1999'));
splice @steps, 3, 0, [deliver => ::price_event(id => 'price_QbsyncOther01',
                                               unit_amount_decimal => '5')];
Qbsync::Webhook::requests(@steps)
--- more_headers eval
my @steps = (::priced('usd', '1999'));
splice @steps, 3, 0, [deliver => ::price_event(id => 'price_QbsyncOther01',
                                               unit_amount_decimal => '5')];
Qbsync::Webhook::headers(@steps)
--- response_body_like eval
['"realm"', '"action":"price_recorded"', '"action":"created"',
 '^\{"event":"evt_1\w+","action":"price_recorded"\}$',
 '"UnitPrice":19.99,']



=== TEST 9: a price event older than the one applied is stale
--- pipelined_requests eval
my @steps = (::priced('usd', '1999'));
splice @steps, 3, 0, [deliver => ::price_event(unit_amount_decimal => '9',
                                               created => $Qbsync::Webhook::Created - 3600)];
Qbsync::Webhook::requests(@steps)
--- more_headers eval
my @steps = (::priced('usd', '1999'));
splice @steps, 3, 0, [deliver => ::price_event(unit_amount_decimal => '9',
                                               created => $Qbsync::Webhook::Created - 3600)];
Qbsync::Webhook::headers(@steps)
--- response_body_like eval
['"realm"', '"action":"price_recorded"', '"action":"created"',
 '"action":"stale"', '"UnitPrice":19.99,']



=== TEST 10: a product event older than the one applied is stale
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [deliver => ::product_event(name => 'New name')],
    [deliver => ::product_event(name => 'Old name', type => 'product.updated',
                                created => $Qbsync::Webhook::Created - 3600)],
    ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [deliver => ::product_event(name => 'New name')],
    [deliver => ::product_event(name => 'Old name', type => 'product.updated',
                                created => $Qbsync::Webhook::Created - 3600)],
    ['state'])
--- response_body_like eval
['"realm"', '"action":"created"', '"action":"stale"', '"Name":"New name"']



=== TEST 11: a product whose price was never seen gets a warning
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [deliver => ::product_event()])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [deliver => ::product_event()])
--- response_body_like eval
['"realm"', '"action":"created".*"warning":"the default price is not known here']
