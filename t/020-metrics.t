# qbsync_metrics: the zone's figures in Prometheus' text format, read by
# a strict parser of that format, and as JSON: deliveries by outcome,
# calls by operation and status, the stages' histograms, the limiter,
# the tokens, the zone.

use Test::Nginx::Socket 'no_plan';

workers(2);
master_on();
use lib 't/lib';
use JSON::PP;
use Qbsync::Prometheus;
use Qbsync::Sim;
use Qbsync::Stripe;
use Qbsync::Webhook;

Qbsync::Sim::start();

our $Created = Qbsync::Webhook::event(type => 'product.created',
                                      object => Qbsync::Webhook::product());

# The exposition, parsed strictly, as one "name{label=value,...} value"
# line a sample that is not 0, sorted: a parse failure is the body.
sub ::prometheus {
    my ($text) = @_;
    my $m = eval { Qbsync::Prometheus::parse($text) };
    return "not Prometheus: $@" unless $m;

    my @lines;
    for my $family (sort keys %{ $m->{families} }) {
        for my $s (@{ $m->{families}{$family}{samples} }) {
            next if !$s->{value} || $s->{name} =~ /_bucket$/;
            my $labels = join ',', map { "$_=$s->{labels}{$_}" }
                                   sort grep { $_ ne 'zone' }
                                   keys %{ $s->{labels} };
            push @lines, "$s->{name}\{$labels\} $s->{value}";
        }
        push @lines, "TYPE $family $m->{families}{$family}{type}";
    }
    return join("\n", sort @lines) . "\n";
}

sub ::json_keys {
    my $doc = eval { JSON::PP->new->decode($_[0]) };
    return "not JSON: $@" unless $doc;
    my $zone = $doc->{zones}{qbsync} or return "no zone qbsync";
    return join ' ', map {
        my $v = $zone->{$_};
        ref $v eq 'HASH' ? "$_=" . join(',', map { "$_:" . (ref $v->{$_}
                                    ? ($v->{$_}{count} // 'obj') : $v->{$_}) }
                                    sort keys %$v)
                         : "$_=$v"
    } sort keys %$zone;
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', Qbsync::Webhook::config() . <<'_EOC_')
    location = /metrics {
        qbsync_metrics;
    }
_EOC_
        unless defined $block->config;
    Qbsync::Webhook::defaults($block);
});

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a created item, a duplicate and a forgery, counted and timed
--- pipelined_requests eval
[ @{ Qbsync::Webhook::requests([reset => {}], [deliver => $::Created],
                               [deliver => $::Created]) },
  "POST /stripe/qbsync\n$::Created",
  "GET /metrics" ]
--- more_headers eval
[ @{ Qbsync::Webhook::headers([reset => {}], [deliver => $::Created],
                              [deliver => $::Created]) },
  "Content-Type: application/json\nStripe-Signature: t=" . time()
  . ",v1=" . ('0' x 64) . "\n",
  "" ]
--- error_code eval
[200, 200, 200, 400, 200]
--- response_headers eval
['', '', '', '', 'Content-Type: text/plain; version=0.0.4; charset=utf-8']
--- response_body_filters eval
[[], [], [], [], [\&::prometheus]]
--- response_body_like eval
['"realm"', '"action":"created"', '"duplicate":true',
 '"signature_mismatch"',
 qr/(?=.*^TYPE qbsync_webhooks_total counter$)(?=.*^qbsync_webhooks_total\{outcome=created\} 1$)(?=.*^qbsync_webhooks_total\{outcome=duplicate\} 1$)(?=.*^qbsync_webhooks_total\{outcome=signature_mismatch\} 1$)(?=.*^qbsync_quickbooks_calls_total\{operation=query,status=200\} 2$)(?=.*^qbsync_quickbooks_calls_total\{operation=create,status=200\} 1$)(?=.*^qbsync_quickbooks_calls_total\{operation=token_refresh,status=200\} 1$)(?=.*^qbsync_stage_duration_seconds_count\{stage=verify\} 3$)(?=.*^qbsync_stage_duration_seconds_count\{stage=total\} 3$)(?=.*^qbsync_stage_duration_seconds_count\{stage=qb_write\} 1$)(?=.*^qbsync_stage_duration_seconds_count\{stage=queue_wait\} 3$)(?=.*^qbsync_cache_entries\{realm=9341453201\} 1$)(?=.*^qbsync_limiter_rate_per_minute\{realm=9341453201\} 500$)(?=.*^qbsync_oauth_access_token_expiry_seconds\{token_file=\S+tokens.json\} \d+$)(?=.*^qbsync_zone_size_bytes\{\} 4194304$)(?=.*^TYPE qbsync_stage_duration_seconds histogram$)/ms]
--- no_error_log
[alert]



=== TEST 2: the same as JSON, with the stages' quantiles
--- pipelined_requests eval
[ @{ Qbsync::Webhook::requests([reset => {}], [deliver => $::Created]) },
  "GET /metrics?format=json" ]
--- more_headers eval
[ @{ Qbsync::Webhook::headers([reset => {}], [deliver => $::Created]) }, "" ]
--- error_code eval
[200, 200, 200]
--- response_body_filters eval
[[], [], [\&::json_keys]]
--- response_body_like eval
['"realm"', '"action"',
 qr/^dead_lettered=0 dead_letters=0 quickbooks_calls=\S*create:obj\S* rate_limited=0 retries=0 stages=dedupe:\d+,oauth:\d+,parse:\d+,qb_query:\d+,qb_write:\d+,queue_wait:\d+,total:\d+,verify:\d+ webhooks=\S*created:\d+\S* zone_size_bytes=4194304 zone_used_bytes=\d+$/]



=== TEST 3: read-only
--- request
POST /metrics
--- error_code: 405
--- response_body chomp
{"error":"method_not_allowed","message":"the metrics are read with GET"}



=== TEST 4: a metrics location needs a zone
--- http_config
--- config
    location = /metrics {
        qbsync_metrics;
    }
--- must_die
