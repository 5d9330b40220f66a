# qbsync_events: the zone's ring of the last events, newest first, each
# filter on its own, the counts by type and outcome, and the audit log's
# lines (the same records).

use Test::Nginx::Socket 'no_plan';

workers(2);
master_on();
use lib 't/lib';
use JSON::PP;
use Qbsync::Sim;
use Qbsync::Stripe;
use Qbsync::Webhook;

Qbsync::Sim::start();

our $Created = Qbsync::Webhook::event(type => 'product.created',
                                      object => Qbsync::Webhook::product());

# The deliveries every block starts with: a new product, its redelivery
# and a forgery; then the block's own requests.
sub ::with {
    my (@rest) = @_;
    my @steps = ([reset => {}], [deliver => $::Created],
                 [deliver => $::Created]);
    return (
        [ @{ Qbsync::Webhook::requests(@steps) },
          "POST /stripe/qbsync\n$::Created", @rest ],
        [ @{ Qbsync::Webhook::headers(@steps) },
          "Content-Type: application/json\nStripe-Signature: t=" . time()
          . ",v1=" . ('0' x 64) . "\n", ('') x @rest ]);
}

# an answer of events as "kind/outcome/product/error" words, in order
sub ::events {
    my $doc = eval { JSON::PP->new->decode($_[0]) };
    return "not JSON: $_[0]" unless $doc && ref $doc->{events} eq 'ARRAY';
    return join ' ', map {
        join '/', map { $_ // '-' } @$_{qw(kind outcome product error)}
    } @{ $doc->{events} };
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    qbsync_zone qbsync:4m events=50;
    qbsync_audit_log $TEST_NGINX_SERVER_ROOT/logs/audit.jsonl;
_EOC_
    $block->set_value('config', Qbsync::Webhook::config() . <<'_EOC_')
    location = /qbsync/events {
        qbsync_events;
    }
    location = /audit {
        alias $TEST_NGINX_SERVER_ROOT/logs/audit.jsonl;
    }
_EOC_
        unless defined $block->config;
    Qbsync::Webhook::defaults($block);
});

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: every outcome is an event, newest first
--- pipelined_requests eval
(::with("GET /qbsync/events"))[0]
--- more_headers eval
(::with("GET /qbsync/events"))[1]
--- error_code eval
[200, 200, 200, 400, 200]
--- response_body_filters eval
[[], [], [], [], [\&::events]]
--- response_body_like eval
['"realm"', '"created"', '"duplicate"', '"signature_mismatch"',
 qr{^signature_rejected/signature_mismatch/-/signature_mismatch duplicate/duplicate/-/- item_created/created/prod_QbsyncTshirt01/- token_refreshed/refreshed/-/- sync_started/started/prod_QbsyncTshirt01/-$}]



=== TEST 2: a record's keys, in the issue's order, RFC 3339 time
--- pipelined_requests eval
(::with("GET /qbsync/events?type=item_created"))[0]
--- more_headers eval
(::with("GET /qbsync/events?type=item_created"))[1]
--- error_code eval
[200, 200, 200, 400, 200]
--- response_body_like eval
['"realm"', '"created"', '"duplicate"', '"signature_mismatch"',
 qr/^\{"events":\[\{"time":"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d\dZ","kind":"item_created","stripe_event":"evt_\w+","stripe_type":"product\.created","product":"prod_QbsyncTshirt01","qb_item_id":"1","location":"\/stripe\/qbsync","outcome":"created","attempts":3,"duration_ms":\d+,"trace_id":"[0-9a-f]{32}","error":null\}\]\}$/]



=== TEST 3: the filters
type= takes a kind or a Stripe type; unknown values match nothing;
since/until in Unix seconds or RFC 3339; limit.
--- pipelined_requests eval
(::with("GET /qbsync/events?type=product.created",
        "GET /qbsync/events?product=prod_QbsyncTshirt01&outcome=created",
        "GET /qbsync/events?type=no.such.type",
        "GET /qbsync/events?limit=2",
        "GET /qbsync/events?since=" . (time() + 3600),
        "GET /qbsync/events?until=2000-01-01T00:00:00Z",
        "GET /qbsync/events?since=" . (time() - 3600) . "&type=duplicate"))[0]
--- more_headers eval
(::with(('') x 7))[1]
--- error_code eval
[200, 200, 200, 400, (200) x 7]
--- response_body_filters eval
[[], [], [], [], ([\&::events]) x 7]
--- response_body_like eval
['"realm"', '"created"', '"duplicate"', '"signature_mismatch"',
 qr{^duplicate/\S+ item_created/\S+ sync_started/\S+$},
 qr{^item_created/created/prod_QbsyncTshirt01/-$},
 qr{^$},
 qr{^signature_rejected/\S+ duplicate/\S+$},
 qr{^$}, qr{^$},
 qr{^duplicate/duplicate/-/-$}]



=== TEST 4: a filter that makes no sense is refused
--- pipelined_requests eval
["GET /qbsync/events?since=yesterday", "GET /qbsync/events?limit=1001",
 "POST /qbsync/events\n"]
--- error_code eval
[400, 400, 405]
--- response_body eval
['{"error":"invalid_filter","message":"since must be Unix seconds or an RFC 3339 date-time"}',
 '{"error":"invalid_filter","message":"limit must be a whole number from 1 to 1000"}',
 '{"error":"method_not_allowed","message":"the events are read with GET"}']



=== TEST 5: counts by type and outcome, over the ring and since start
--- pipelined_requests eval
(::with("GET /qbsync/events?stats=1"))[0]
--- more_headers eval
(::with("GET /qbsync/events?stats=1"))[1]
--- error_code eval
[200, 200, 200, 400, 200]
--- response_body_like eval
['"realm"', '"created"', '"duplicate"', '"signature_mismatch"',
 qr/^\{"ring":\{"by_type":\{"sync_started":1,"sync_completed":0,"sync_failed":0,"item_created":1,[^}]*"signature_rejected":1,"duplicate":1,[^}]*"token_refreshed":1,[^}]*\},"by_outcome":\{"created":1,"duplicate":1,"refreshed":1,"signature_mismatch":1,"started":1\},"total":5\},"since_start":\{/]



=== TEST 6: the audit log holds the same records, a line each
--- pipelined_requests eval
(::with("GET /audit"))[0]
--- more_headers eval
(::with("GET /audit"))[1]
--- error_code eval
[200, 200, 200, 400, 200]
--- response_body_like eval
['"realm"', '"created"', '"duplicate"', '"signature_mismatch"',
 qr/\A(?:\{"time":"[^"]+","kind":"(?:sync_started|token_refreshed|item_created|duplicate|signature_rejected)"[^\n]*\}\n){5}\z/]
--- no_error_log
[alert]
