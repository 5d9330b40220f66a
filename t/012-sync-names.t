# Item names: QuickBooks' rules applied to Stripe's names, and a name that
# an item already holds: adopted when the item belongs to no product,
# suffixed when it belongs to another, inactive items included.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
master_on();
use lib 't/lib';
use Qbsync::Sim;
use Qbsync::Webhook;

Qbsync::Sim::start();

sub ::created {
    my (%product) = @_;
    return Qbsync::Webhook::event(type => 'product.created',
                                  object => Qbsync::Webhook::product(%product));
}

sub ::updated {
    my (%product) = @_;
    return Qbsync::Webhook::event(type => 'product.updated',
                                  created => $Qbsync::Webhook::Created + 1,
                                  object => Qbsync::Webhook::product(%product));
}

our $Pizza = "\x{1f355}";

# another product's item holds the name; the product comes, comes again
# unchanged, then with a new description
sub ::suffixed_steps {
    return ([reset => {}],
        [seed => [{ Name => 'T-shirt', Sku => 'prod_SomeoneElse',
                    Type => 'Service', IncomeAccountRef => { value => '79' },
                    ExpenseAccountRef => { value => '80' } }]],
        [deliver => ::created()], [deliver => ::updated()],
        [deliver => Qbsync::Webhook::event(type => 'product.updated',
            created => $Qbsync::Webhook::Created + 2,
            object => Qbsync::Webhook::product(description => 'Now organic'))],
        ['state']);
}

add_block_preprocessor(sub { Qbsync::Webhook::defaults(shift) });

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: tabs, line breaks and colons become single spaces
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [deliver => ::created(name => "  Shirt:\tsize\r\nL :: blue  ")], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [deliver => ::created(name => "  Shirt:\tsize\r\nL :: blue  ")], ['state'])
--- response_body_like eval
['"realm"', '"action":"created"', '"Name":"Shirt size L blue"']



=== TEST 2: a name of 150 multibyte characters is cut to 100 code points
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [deliver => ::created(name => $::Pizza x 150)], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [deliver => ::created(name => $::Pizza x 150)], ['state'])
--- response_body_like eval
['"realm"', '"action":"created"',
 '"Name":"(?:\xf0\x9f\x8d\x95){100}"']



=== TEST 3: a name with nothing left once the rules apply is refused
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [deliver => ::created(name => " :\t: ")], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [deliver => ::created(name => " :\t: ")], ['state'])
--- error_code eval
[200, 422, 200]
--- response_body_like eval
['"realm"',
 '^\{"error":"invalid_product","message":"the product.s name is empty once QuickBooks. name rules apply"\}$',
 '"items":\[\]']



=== TEST 4: an item of the same name without a Sku is adopted
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [seed => [{ Name => 't-SHIRT', Type => 'Service', UnitPrice => 5,
                IncomeAccountRef => { value => '79' },
                ExpenseAccountRef => { value => '80' } }]],
    [deliver => ::created()], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [seed => [{ Name => 't-SHIRT', Type => 'Service', UnitPrice => 5,
                IncomeAccountRef => { value => '79' },
                ExpenseAccountRef => { value => '80' } }]],
    [deliver => ::created()], ['state'])
--- response_body_like eval
['"realm"', '"items"', '"action":"updated","qb_item_id":"1"',
 '^\{"items":\[\{"Id":"1",[^]]*"Name":"T-shirt","Sku":"prod_QbsyncTshirt01"[^]]*\}\],.*"create":0,']



=== TEST 5: a name held by another product's item gets a suffix
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [seed => [{ Name => 'T-shirt', Sku => 'prod_SomeoneElse', Type => 'Service',
                IncomeAccountRef => { value => '79' },
                ExpenseAccountRef => { value => '80' } }]],
    [deliver => ::created()], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [seed => [{ Name => 'T-shirt', Sku => 'prod_SomeoneElse', Type => 'Service',
                IncomeAccountRef => { value => '79' },
                ExpenseAccountRef => { value => '80' } }]],
    [deliver => ::created()], ['state'])
--- response_body_like eval
['"realm"', '"items"', '"action":"created","qb_item_id":"2"',
 '"Name":"T-shirt \(prod_QbsyncTshirt01\)","Sku":"prod_QbsyncTshirt01"']



=== TEST 6: an inactive item still holds its name
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [seed => [{ Name => 'T-shirt', Sku => 'prod_Retired', Active => JSON::PP::false,
                Type => 'Service', IncomeAccountRef => { value => '79' },
                ExpenseAccountRef => { value => '80' } }]],
    [deliver => ::created()], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [seed => [{ Name => 'T-shirt', Sku => 'prod_Retired', Active => JSON::PP::false,
                Type => 'Service', IncomeAccountRef => { value => '79' },
                ExpenseAccountRef => { value => '80' } }]],
    [deliver => ::created()], ['state'])
--- response_body_like eval
['"realm"', '"items"', '"action":"created","qb_item_id":"2"',
 '"Name":"T-shirt \(prod_QbsyncTshirt01\)"']



=== TEST 7: a rename onto another item's name is suffixed
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [seed => [{ Name => 'Hoodie', Sku => 'prod_Hoodie', Type => 'Service',
                IncomeAccountRef => { value => '79' },
                ExpenseAccountRef => { value => '80' } }]],
    [deliver => ::created()], [deliver => ::updated(name => 'Hoodie')],
    ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [seed => [{ Name => 'Hoodie', Sku => 'prod_Hoodie', Type => 'Service',
                IncomeAccountRef => { value => '79' },
                ExpenseAccountRef => { value => '80' } }]],
    [deliver => ::created()], [deliver => ::updated(name => 'Hoodie')],
    ['state'])
--- response_body_like eval
['"realm"', '"items"', '"action":"created","qb_item_id":"2"',
 '"action":"updated","qb_item_id":"2"',
 '"Name":"Hoodie \(prod_QbsyncTshirt01\)","Sku":"prod_QbsyncTshirt01"']



=== TEST 8: quotes and backslashes in a name survive the query and the body
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [deliver => ::created(name => q{O'Brien's "Best" \ Shirt})], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [deliver => ::created(name => q{O'Brien's "Best" \ Shirt})], ['state'])
--- response_body_like eval
['"realm"', '"action":"created"',
 q{"Name":"O'Brien's \\\\"Best\\\\" \\\\\\\\ Shirt"}]



=== TEST 9: a suffixed item stays suffixed: nothing to write, then one write
--- pipelined_requests eval: Qbsync::Webhook::requests(::suffixed_steps())
--- more_headers eval: Qbsync::Webhook::headers(::suffixed_steps())
--- response_body_like eval
['"realm"', '"items"', '"action":"created","qb_item_id":"2"',
 '"action":"unchanged","qb_item_id":"2"',
 '"action":"updated","qb_item_id":"2"',
 '(?=.*"create":1\b)(?=.*"update":1\b)(?=.*"Description":"Now organic")'
 . '(?=.*"Name":"T-shirt \(prod_QbsyncTshirt01\)","Sku":"prod_QbsyncTshirt01")']



=== TEST 10: a "\u0000" in a name: the event is checked, the sync refuses it, nothing is written
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [deliver => ::created(name => "Nul\x{0}Shirt")], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [deliver => ::created(name => "Nul\x{0}Shirt")], ['state'])
--- error_code eval
[200, 422, 200]
--- response_body_like eval
['"realm"', '"error":"invalid_event","message":"body: \\\\\\\\u0000 in a string"',
 '"items":\[\]']
