# The batch location: a catalog as NDJSON, one Stripe product a line,
# into QuickBooks through its batch API, answered a line per batch as it
# goes; bad lines answered on their own, the last line of a product wins,
# taken names and stale SyncTokens resolved in a later batch, a rerun
# free, and a body that is not NDJSON refused whole.

use Test::Nginx::Socket 'no_plan';

workers(2);
master_on();
use lib 't/lib';
use JSON::PP;
use Qbsync::Sim;
use Qbsync::Webhook;

Qbsync::Sim::start();

# A product as Stripe's list API gives it with expand[]=data.default_price
sub ::listed {
    my ($n, %o) = @_;
    my $id = $o{id} // "prod_QbsyncBatch$n";
    return Qbsync::Webhook::product(
        id            => $id,
        name          => $o{name} // "Catalog item $n",
        description   => "Item $n of the catalog",
        default_price => Qbsync::Webhook::price(id => "price_QbsyncBatch$n",
                                                product => $id,
                                                unit_amount_decimal => "${n}00"),
        %{ $o{product} // {} });
}

sub ::catalog { [ map { ::listed($_) } @_ ] }

sub ::steps { (Qbsync::Webhook::requests(@_), Qbsync::Webhook::headers(@_)) }

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', Qbsync::Webhook::config(batch => 1))
        unless defined $block->config;
    Qbsync::Webhook::defaults($block);
});

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: one product: created, its price exact, the answer NDJSON
--- pipelined_requests eval
(::steps([reset => {}], [batch => [::listed(7)]], ['state']))[0]
--- more_headers eval
(::steps([reset => {}], [batch => [::listed(7)]], ['state']))[1]
--- error_code eval
[200, 200, 200]
--- response_headers eval
['', 'Content-Type: application/x-ndjson', '']
--- response_body_like eval
['"realm"',
 qr/\A\{"batch":1,"created":1,"updated":0,"unchanged":0,"failed":0,"errors":\[\]\}\n\{"summary":true,"lines":1,"created":1,"updated":0,"unchanged":0,"failed":0\}\n\z/,
 '"Name":"Catalog item 7","Sku":"prod_QbsyncBatch7".*"UnitPrice":7(?:\.0+)?\b.*"counts":\{"query":1,"create":1,"update":0,"read":0,"batch":1,']
--- no_error_log
[error]



=== TEST 2: 31 products: two batches of writes, 30 and 1
--- pipelined_requests eval
(::steps([reset => {}], [batch => ::catalog(1 .. 31)], ['state']))[0]
--- more_headers eval
(::steps([reset => {}], [batch => ::catalog(1 .. 31)], ['state']))[1]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
['"realm"',
 qr/\A\{"batch":1,"created":30,"updated":0,"unchanged":0,"failed":0,"errors":\[\]\}\n\{"batch":2,"created":1,"updated":0,"unchanged":0,"failed":0,"errors":\[\]\}\n\{"summary":true,"lines":31,"created":31,"updated":0,"unchanged":0,"failed":0\}\n\z/,
 '"counts":\{"query":2,"create":31,"update":0,"read":0,"batch":2,']
--- no_error_log
[error]



=== TEST 3: bad lines among good ones: each answered with its line and path
Line 2 is not JSON, line 4 has no name, line 5 a price of the wrong
type; blank lines count as lines but not as products.
--- pipelined_requests eval
(::steps([reset => {}], [batch => [::listed(1), '{"id": "prod_Broken", ',
    ::listed(3), '{"id":"prod_NoName","object":"product","active":true}',
    ::listed(5, product => { default_price => 42 }), ' ', ::listed(6)]],
    ['state']))[0]
--- more_headers eval
(::steps([reset => {}], [batch => []], ['state']))[1]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
['"realm"',
 qr/\A\{"batch":1,"created":3,"updated":0,"unchanged":0,"failed":3,"errors":\[\{"line":2,"product":null,"error":"invalid_product","message":"body: [^"]+"\},\{"line":4,"product":"prod_NoName","error":"invalid_product","message":"name: expected a string"\},\{"line":5,"product":"prod_QbsyncBatch5","error":"invalid_product","message":"default_price: expected a string, an object or null"\}\]\}\n\{"summary":true,"lines":6,"created":3,"updated":0,"unchanged":0,"failed":3\}\n\z/,
 '"create":3,']



=== TEST 4: a product on several lines: the last one wins, written once
--- pipelined_requests eval
(::steps([reset => {}], [batch => [::listed(1, name => 'First name'),
    ::listed(2), ::listed(1, name => 'Last name')]], ['state']))[0]
--- more_headers eval
(::steps([reset => {}], [batch => []], ['state']))[1]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
['"realm"',
 qr/\A\{"batch":1,"created":2,"updated":0,"unchanged":0,"failed":0,"errors":\[\]\}\n\{"summary":true,"lines":3,"created":2,"updated":0,"unchanged":0,"failed":0\}\n\z/,
 '^(?!.*First name).*"Name":"Last name","Sku":"prod_QbsyncBatch1".*"create":2,']



=== TEST 5: a rerun of the same body costs QuickBooks nothing
--- pipelined_requests eval
(::steps([reset => {}], [batch => ::catalog(1 .. 3)],
    [batch => ::catalog(1 .. 3)], ['state']))[0]
--- more_headers eval
(::steps([reset => {}], [batch => []], [batch => []], ['state']))[1]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
['"realm"', '"created":3,',
 qr/\A\{"batch":1,"created":0,"updated":0,"unchanged":3,"failed":0,"errors":\[\]\}\n\{"summary":true,"lines":3,"created":0,"updated":0,"unchanged":3,"failed":0\}\n\z/,
 '"counts":\{"query":1,"create":3,"update":0,"read":0,"batch":1,']



=== TEST 6: taken names (6240 inside the batch answer) resolved in a later batch
Product 1's name is held by another product's item: it gets the suffix.
Product 2's by an item without a Sku: that item is adopted.
--- pipelined_requests eval
(::steps([reset => {}],
    [seed => [{ Name => 'Catalog item 1', Sku => 'prod_SomeoneElse',
                Type => 'Service', IncomeAccountRef => { value => '79' },
                ExpenseAccountRef => { value => '80' } },
              { Name => 'catalog ITEM 2', Type => 'Service',
                IncomeAccountRef => { value => '79' },
                ExpenseAccountRef => { value => '80' } }]],
    [batch => ::catalog(1 .. 3)], ['state']))[0]
--- more_headers eval
(::steps([reset => {}], [seed => []], [batch => []], ['state']))[1]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
['"realm"', '',
 qr/\A\{"batch":1,"created":2,"updated":1,"unchanged":0,"failed":0,"errors":\[\]\}\n\{"summary":true,"lines":3,"created":2,"updated":1,"unchanged":0,"failed":0\}\n\z/,
 '"Name":"Catalog item 2","Sku":"prod_QbsyncBatch2".*"Name":"Catalog item 1 \(prod_QbsyncBatch1\)","Sku":"prod_QbsyncBatch1".*"counts":\{"query":2,"create":4,"update":1,"read":0,"batch":2,']



=== TEST 7: a stale SyncToken (5010 inside the batch answer) is looked up and written again
The item was changed in QuickBooks after the module last wrote it.
--- pipelined_requests eval
(::steps([reset => { access_token => $Qbsync::Webhook::AccessToken }],
    [batch => ::catalog(1 .. 2)],
    [qbo => { sparse => JSON::PP::true, Id => '1', SyncToken => '0',
              Name => 'Catalog item 1', Description => 'edited' }],
    [batch => [::listed(1, name => 'Renamed'), ::listed(2)]], ['state']))[0]
--- more_headers eval
(::steps([reset => {}], [batch => []], [qbo => {}], [batch => []],
    ['state']))[1]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_body_like eval
['"realm"', '"created":2,', '"SyncToken":"1"',
 qr/\A\{"batch":1,"created":0,"updated":1,"unchanged":1,"failed":0,"errors":\[\]\}\n/,
 '"Id":"1","SyncToken":"2","Name":"Renamed".*"counts":\{"query":2,"create":2,"update":3,"read":0,"batch":3,']



=== TEST 8: QuickBooks down: retried, then the run stops with its summary
--- pipelined_requests eval
(::steps([reset => {}],
    [faults => [{ method => 'POST', path => '/v3/company/', match => '/batch',
                  count => 10, status => 503 }]],
    [batch => ::catalog(1 .. 2)], ['state']))[0]
--- more_headers eval
(::steps([reset => {}], [faults => []], [batch => []], ['state']))[1]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
['"realm"', '"rules"',
 qr/\A\{"batch":1,"created":0,"updated":0,"unchanged":0,"failed":2,"errors":\[\{"line":1,"product":"prod_QbsyncBatch1","error":"quickbooks_unavailable","message":"QuickBooks could not take the batch now; send the rest later"\},\{"line":2,.*\n\{"summary":true,"lines":2,"created":0,"updated":0,"unchanged":0,"failed":2,"error":"quickbooks_unavailable","message":"[^"]+"\}\n\z/,
 '"items":\[\]']
--- error_log eval
qr/QuickBooks answered 503 for a batch call/



=== TEST 9: what is not a catalog is refused whole
--- pipelined_requests eval
["GET /qbsync/batch", "POST /qbsync/batch\n{}\n",
 "POST /qbsync/batch\nid,name\nprod_1,T-shirt\n", "POST /qbsync/batch\n \n"]
--- more_headers eval
["", "Content-Type: application/json\n",
 "Content-Type: application/x-ndjson\n", "Content-Type: application/x-ndjson\n"]
--- error_code eval
[405, 415, 400, 400]
--- response_headers eval
['Allow: POST', 'Content-Type: application/json',
 'Content-Type: application/json', 'Content-Type: application/json']
--- response_body eval
['{"error":"method_not_allowed","message":"the batch location takes POST with one Stripe product per line"}',
 '{"error":"unsupported_media_type","message":"the batch location takes Content-Type: application/x-ndjson"}',
 '{"error":"invalid_ndjson","message":"the body is not NDJSON: each line must be a Stripe product object"}',
 '{"error":"empty_body","message":"the body holds no product"}']
