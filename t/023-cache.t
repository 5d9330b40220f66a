# qbsync_cache_admin: the realm's mapping cache, one entry shown, one
# dropped, many dropped by a pattern (each a cache_invalidated event), and
# a pattern PCRE refuses.

use Test::Nginx::Socket 'no_plan';

workers(2);
master_on();
use lib 't/lib';
use Qbsync::Sim;
use Qbsync::Webhook;

Qbsync::Sim::start();

sub ::listed {
    my ($id, $name) = @_;
    return Qbsync::Webhook::product(id => $id, name => $name);
}

our @Catalog = (::listed('prod_QbsyncCacheA1', 'A one'),
                ::listed('prod_QbsyncCacheA2', 'A two'),
                ::listed('prod_QbsyncCacheB1', 'B one'));

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', Qbsync::Webhook::config(batch => 1) . <<'_EOC_')
    location = /qbsync/cache {
        qbsync_quickbooks /_qbsync/qbo realm=9341453201 minorversion=75;
        qbsync_cache_admin;
    }
    location = /qbsync/events {
        qbsync_events;
    }
_EOC_
        unless defined $block->config;
    Qbsync::Webhook::defaults($block);
});

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: an entry, shown; an unknown product, 404
--- pipelined_requests eval
[ @{ Qbsync::Webhook::requests([reset => {}], [batch => \@::Catalog]) },
  "GET /qbsync/cache?product=prod_QbsyncCacheA1",
  "GET /qbsync/cache?product=prod_Unknown" ]
--- more_headers eval
[ @{ Qbsync::Webhook::headers([reset => {}], [batch => []]) }, "", "" ]
--- error_code eval
[200, 200, 200, 404]
--- response_body_like eval
['"realm"', '"created":3',
 qr/^\{"product":"prod_QbsyncCacheA1","qb_item_id":"1","sync_token":"0","name":"A one","active":true,"unit_price":"","default_price":"","suffixed":false\}$/,
 qr/^\{"error":"not_found","message":"the cache has no entry for this product"\}$/]



=== TEST 2: one dropped, its event recorded, the next batch looks it up again
--- pipelined_requests eval
[ @{ Qbsync::Webhook::requests([reset => {}], [batch => \@::Catalog]) },
  "DELETE /qbsync/cache?product=prod_QbsyncCacheA1",
  "DELETE /qbsync/cache?product=prod_QbsyncCacheA1",
  "GET /qbsync/events?type=cache_invalidated",
  @{ Qbsync::Webhook::requests([batch => \@::Catalog]) } ]
--- more_headers eval
[ @{ Qbsync::Webhook::headers([reset => {}], [batch => []]) }, "", "", "",
  @{ Qbsync::Webhook::headers([batch => []]) } ]
--- response_body_like eval
['"realm"', '"created":3', '^\{"dropped":1\}$', '^\{"dropped":0\}$',
 '^\{"events":\[\{"time":"[^"]+","kind":"cache_invalidated","stripe_event":null,"stripe_type":null,"product":"prod_QbsyncCacheA1","qb_item_id":null,"location":"/qbsync/cache","outcome":"invalidated"',
 '"summary":true,"lines":3,"created":0,"updated":1,"unchanged":2,"failed":0']



=== TEST 3: a pattern drops what it matches, nothing else
--- pipelined_requests eval
[ @{ Qbsync::Webhook::requests([reset => {}], [batch => \@::Catalog]) },
  "DELETE /qbsync/cache?pattern=%5Eprod_QbsyncCacheA%5Cd%24",
  "GET /qbsync/cache?product=prod_QbsyncCacheB1",
  "GET /qbsync/events?type=cache_invalidated&limit=10" ]
--- more_headers eval
[ @{ Qbsync::Webhook::headers([reset => {}], [batch => []]) }, "", "", "" ]
--- response_body_like eval
['"realm"', '"created":3', '^\{"dropped":2\}$', '"product":"prod_QbsyncCacheB1"',
 '^\{"events":\[\{[^}]+"product":"prod_QbsyncCacheA\d"[^}]+\},\{[^}]+"product":"prod_QbsyncCacheA\d"[^}]+\}\]\}$']



=== TEST 4: what the cache admin refuses
--- pipelined_requests eval
["DELETE /qbsync/cache?pattern=(unclosed", "GET /qbsync/cache",
 "POST /qbsync/cache?product=prod_X\n"]
--- error_code eval
[400, 400, 405]
--- response_body eval
['{"error":"invalid_pattern","message":"the pattern is not a regular expression PCRE takes"}',
 '{"error":"invalid_request","message":"give ?product=prod_..., or with DELETE ?pattern=REGEX"}',
 '{"error":"method_not_allowed","message":"GET shows a cache entry, DELETE drops entries"}']
