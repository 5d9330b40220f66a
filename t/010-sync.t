# qbsync_webhook turns Stripe product events into QuickBooks items, in the
# QuickBooks simulator: create, rename, archive and restore, delete, the
# redelivery that writes nothing, and the events it leaves alone.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
master_on();
use lib 't/lib';
use Qbsync::Sim;
use Qbsync::Webhook;

Qbsync::Sim::start();

sub ::product { Qbsync::Webhook::product(@_) }

sub ::event {
    my ($id, $type, %product) = @_;
    return Qbsync::Webhook::event(id => $id, type => $type,
                                  object => ::product(%product));
}

our $Created = ::event('evt_1SyncCreated00000000001', 'product.created');

# created, renamed a second later, deleted in between (delivered late),
# then an update from before the deletion
sub ::deletion_steps {
    my $c = $Qbsync::Webhook::Created;
    my $gone = { id => 'prod_QbsyncTshirt01', object => 'product',
                 deleted => JSON::PP::true };

    return ([reset => {}], [deliver => $::Created],
        [deliver => Qbsync::Webhook::event(type => 'product.updated',
            created => $c + 2, object => ::product(name => 'Renamed'))],
        [deliver => Qbsync::Webhook::event(type => 'product.deleted',
            created => $c + 1, object => $gone)],
        [deliver => Qbsync::Webhook::event(type => 'product.updated',
            created => $c + 1, object => ::product(name => 'Older'))],
        ['state']);
}

# a deletion delivered before the creation of its product
sub ::early_deletion_steps {
    my $c = $Qbsync::Webhook::Created;

    return ([reset => {}],
        [deliver => Qbsync::Webhook::event(id => 'evt_1SyncDeletedNone000000001',
            type => 'product.deleted', created => $c + 1,
            object => { id => 'prod_QbsyncNever01', object => 'product',
                        deleted => JSON::PP::true })],
        [deliver => Qbsync::Webhook::event(id => 'evt_1SyncCreatedLate0000000001',
            type => 'product.created', created => $c,
            object => ::product(id => 'prod_QbsyncNever01'))],
        ['state']);
}

add_block_preprocessor(sub { Qbsync::Webhook::defaults(shift) });

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: product.created creates an item keyed on the product id
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [deliver => $::Created], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [deliver => $::Created], ['state'])
--- response_body_like eval
[ '"realm"',
  '^\{"event":"evt_1SyncCreated00000000001","action":"created","qb_item_id":"\d+"',
  '"Name":"T-shirt".*"Sku":"prod_QbsyncTshirt01"' ]
--- no_error_log
[error]
rt-initial



=== TEST 2: a redelivered event writes nothing more
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [deliver => $::Created],
                          [deliver => $::Created], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [deliver => $::Created],
                         [deliver => $::Created], ['state'])
--- response_body_like eval
[ '"realm"', '"action":"created"',
  '^\{"duplicate":true,"event":"evt_1SyncCreated00000000001","action":"created"\}$',
  '"create":1,' ]



=== TEST 3: a rename updates the item
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [deliver => $::Created],
    [deliver => ::event('evt_1SyncRenamed00000000001', 'product.updated',
                        name => 'Organic T-shirt')],
    ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [deliver => $::Created],
    [deliver => ::event('evt_1SyncRenamed00000000001', 'product.updated',
                        name => 'Organic T-shirt')],
    ['state'])
--- response_body_like eval
[ '"realm"', '"action":"created"', '"action":"updated"',
  '"Name":"Organic T-shirt"' ]



=== TEST 4: the same product again changes nothing and calls nothing
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [deliver => $::Created],
    [deliver => ::event('evt_1SyncSame000000000000001', 'product.updated')],
    ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [deliver => $::Created],
    [deliver => ::event('evt_1SyncSame000000000000001', 'product.updated')],
    ['state'])
--- response_body_like eval
[ '"realm"', '"action":"created"', '"action":"unchanged"',
  '"create":1,.*"update":0,' ]



=== TEST 5: archive and restore
--- pipelined_requests eval
my @steps = ([reset => {}], [deliver => $::Created],
    [deliver => ::event('evt_1SyncArchived0000000001', 'product.updated',
                        active => 0)],
    [deliver => ::event('evt_1SyncRestored0000000001', 'product.updated',
                        active => 1)],
    ['state']);
Qbsync::Webhook::requests(@steps)
--- more_headers eval
my @steps = ([reset => {}], [deliver => $::Created],
    [deliver => ::event('evt_1SyncArchived0000000001', 'product.updated',
                        active => 0)],
    [deliver => ::event('evt_1SyncRestored0000000001', 'product.updated',
                        active => 1)],
    ['state']);
Qbsync::Webhook::headers(@steps)
--- response_body_like eval
[ '"realm"', '"action":"created"', '"action":"deactivated"',
  '"action":"reactivated"', '"Active":true' ]



=== TEST 6: product.deleted deactivates the item
--- pipelined_requests eval
my $deleted = Qbsync::Webhook::event(id => 'evt_1SyncDeleted00000000001',
    type => 'product.deleted',
    object => { id => 'prod_QbsyncTshirt01', object => 'product',
                deleted => JSON::PP::true });
Qbsync::Webhook::requests([reset => {}], [deliver => $::Created],
                          [deliver => $deleted], ['state'])
--- more_headers eval
my $deleted = Qbsync::Webhook::event(id => 'evt_1SyncDeleted00000000001',
    type => 'product.deleted',
    object => { id => 'prod_QbsyncTshirt01', object => 'product',
                deleted => JSON::PP::true });
Qbsync::Webhook::headers([reset => {}], [deliver => $::Created],
                         [deliver => $deleted], ['state'])
--- response_body_like eval
[ '"realm"', '"action":"created"', '"action":"deactivated"',
  '"Active":false' ]



=== TEST 7: deleting a product with no item is ignored, and remembered
An older event of that product arriving after the deletion must not
create the item of a product that no longer exists.
--- pipelined_requests eval: Qbsync::Webhook::requests(::early_deletion_steps())
--- more_headers eval: Qbsync::Webhook::headers(::early_deletion_steps())
--- response_body_like eval
[ '"realm"', '^\{"event":"evt_1SyncDeletedNone000000001","action":"ignored"\}$',
  '^\{"event":"evt_1SyncCreatedLate0000000001","action":"stale"\}$',
  '^\{"items":\[\],.*"create":0,' ]



=== TEST 8: other event types are answered and ignored
--- pipelined_requests eval
my $event = Qbsync::Webhook::event(id => 'evt_1SyncCustomer0000000001',
    type => 'customer.created', object => { id => 'cus_1', object => 'customer' });
Qbsync::Webhook::requests([reset => {}], [deliver => $event], ['state'])
--- more_headers eval
my $event = Qbsync::Webhook::event(id => 'evt_1SyncCustomer0000000001',
    type => 'customer.created', object => { id => 'cus_1', object => 'customer' });
Qbsync::Webhook::headers([reset => {}], [deliver => $event], ['state'])
--- response_body_like eval
[ '"realm"', '"action":"ignored"', '"query":0,' ]



=== TEST 9: a test-mode event is ignored where qbsync_livemode is live
--- config eval
Qbsync::Webhook::config(extra => "        qbsync_livemode live;\n")
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [deliver => $::Created], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [deliver => $::Created], ['state'])
--- response_body_like eval
[ '"realm"', '"action":"ignored".*"warning"', '"create":0,' ]
--- error_log
is a test-mode event, ignored by qbsync_livemode live



=== TEST 10: the webhook refuses what the gate refuses
--- pipelined_requests eval
["GET /stripe/qbsync", "POST /stripe/qbsync\n$::Created"]
--- more_headers eval
["", Qbsync::Stripe::headers($::Created, secret => 'whsec_attacker')]
--- error_code eval
[405, 400]
--- response_body_like eval
['"error":"method_not_allowed"', '"error":"signature_mismatch"']



=== TEST 11: a deletion is final: applied however late, never undone by an older update
--- pipelined_requests eval: Qbsync::Webhook::requests(::deletion_steps())
--- more_headers eval: Qbsync::Webhook::headers(::deletion_steps())
--- response_body_like eval
[ '"realm"', '"action":"created"', '"action":"updated"',
  '"action":"deactivated"', '"action":"stale"',
  '(?=.*"Active":false)(?=.*"Name":"Renamed")' ]
