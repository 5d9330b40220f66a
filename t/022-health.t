# qbsync_health and qbsync_status: ok, degraded (200) and down (503),
# component by component; the health refreshes a token that is due, so a
# quiet catalog keeps its connection; the status adds the stages, the
# slow ones, the last events and the configuration, with no secret.

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

# "status | zone:status | oauth:status | limiter:status | warnings | errors"
sub ::health {
    my $doc = eval { JSON::PP->new->decode($_[0]) };
    return "not JSON: $_[0]" unless $doc;
    my $c = $doc->{checks};
    return join ' | ', $doc->{status},
        'zone:' . join(',', map { $_->{status} } @{ $c->{zones} }),
        'oauth:' . join(',', map { "$_->{status}/$_->{access_token_expires_in}"
                                   . "/$_->{refresh_token_days_left}"
                                   . "/" . ($_->{reauthorization_required}
                                            ? 'reauth' : 'ok') }
                             @{ $c->{oauth} }),
        'limiter:' . join(',', map { "$_->{status}/$_->{rate_per_minute}" }
                               @{ $c->{limiter} }),
        'warnings:' . join(';', @{ $doc->{warnings} }),
        'errors:' . join(';', @{ $doc->{errors} });
}

add_block_preprocessor(sub {
    my $block = shift;
    my $qb = <<'_EOQ_';
        qbsync_quickbooks /_qbsync/qbo realm=9341453201 minorversion=75;
        qbsync_oauth /_qbsync/oauth client_id=qbsync-client
                     client_secret_file=$TEST_NGINX_SERVER_ROOT/html/qbo.secret
                     token_file=$TEST_NGINX_SERVER_ROOT/html/tokens.json;
_EOQ_
    $block->set_value('config', Qbsync::Webhook::config() . <<"_EOC_")
    location = /qbsync/health {
$qb        qbsync_health;
    }
    location = /qbsync/status {
$qb        qbsync_slow_stage 1ms;
        qbsync_status;
    }
_EOC_
        unless defined $block->config;
    Qbsync::Webhook::defaults($block);
});

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a quiet catalog: the health refreshes the token, and is ok
--- pipelined_requests eval
[ @{ Qbsync::Webhook::requests([reset => {}]) }, "GET /qbsync/health",
  "GET /token-file" ]
--- more_headers eval
[ @{ Qbsync::Webhook::headers([reset => {}]) }, "", "" ]
--- response_body_filters eval
[[], [\&::health], []]
--- response_body_like eval
['"realm"',
 qr{^ok \| zone:ok \| oauth:ok/(?:3599|3600)/\d+/ok \| limiter:ok/500 \| warnings: \| errors:$},
 '"access_token"']
--- error_log
refreshed the QuickBooks access token



=== TEST 2: QuickBooks throttling: degraded, still 200
--- pipelined_requests eval
[ @{ Qbsync::Webhook::requests([reset => {}],
    [faults => [{ method => 'GET', path => '/v3/company/', count => 10,
                  status => 429 }]], [deliver => $::Created]) },
  "GET /qbsync/health" ]
--- more_headers eval
[ @{ Qbsync::Webhook::headers([reset => {}], [faults => []],
                              [deliver => $::Created]) }, "" ]
--- error_code eval
[200, 200, 503, 200]
--- response_body_filters eval
[[], [], [], [\&::health]]
--- response_body_like eval
['"realm"', '"rules"', '"quickbooks_',
 qr{^degraded \| zone:degraded \| oauth:ok/\d+/\d+/ok \| limiter:degraded/250 \| warnings:QuickBooks failed the last \d+ calls of zone "qbsync";QuickBooks throttled realm "9341453201": the limiter allows 250 of 500 calls a minute \| errors:$}]



=== TEST 3: a refresh token Intuit refused: down, 503
--- pipelined_requests eval
[ @{ Qbsync::Webhook::requests([reset => {}],
    [tokens => { revoke_refresh_token => JSON::PP::true }]) },
  "GET /qbsync/health" ]
--- more_headers eval
[ @{ Qbsync::Webhook::headers([reset => {}], [tokens => {}]) }, "" ]
--- error_code eval
[200, 200, 503]
--- response_body_filters eval
[[], [], [\&::health]]
--- response_body_like eval
['"realm"', '',
 qr{^down \| zone:ok \| oauth:down/0/0/reauth \| limiter:ok/500 \| warnings: \| errors:Intuit refused the refresh token of "\S+tokens.json": the QuickBooks connection must be re-authorised$}]



=== TEST 4: a refresh token near its end: degraded, with the days left
--- pipelined_requests eval
[ @{ Qbsync::Webhook::requests([reset => { refresh_token_lifetime => 5 * 86400 }]) },
  "GET /qbsync/health" ]
--- more_headers eval
[ @{ Qbsync::Webhook::headers([reset => {}]) }, "" ]
--- response_body_filters eval
[[], [\&::health]]
--- response_body_like eval
['"realm"',
 qr{^degraded \| zone:ok \| oauth:degraded/\d+/[45]/ok \| limiter:ok/500 \| warnings:the refresh token of "\S+tokens.json" expires in [45] days: re-authorise before then \| errors:$}]



=== TEST 5: the status: stages, slow ones, last events, configuration without secrets
--- pipelined_requests eval
[ @{ Qbsync::Webhook::requests([reset => {}], [deliver => $::Created]) },
  "GET /qbsync/status" ]
--- more_headers eval
[ @{ Qbsync::Webhook::headers([reset => {}], [deliver => $::Created]) }, "" ]
--- response_body_like eval
['"realm"', '"created"',
 qr/^\{"status":"ok","checks":\{"zones":\[.*"stages":\{"verify":\{"count":1,.*"bottlenecks":\[[^\]]*"total"[^\]]*\],"config":\{"zones":\[\{"name":"qbsync","size":4194304\}\],"realms":\[\{"realm":"9341453201","zone":"qbsync","rate_per_minute":500,"concurrency":10,"batches_per_minute":40,"cooldown_ms":60000\}\],"token_files":\["[^"]+tokens.json"\],"dead_letter":null\},"events":\[\{"time":"[^"]+","kind":"item_created",.*\{"time":"[^"]+","kind":"sync_started".*\]\}$/]
--- response_body_unlike eval
['', '', qr/qbsync-client-secret|whsec_|at-qbsync|rt-initial|sk_test/]



=== TEST 6: read-only
--- request
DELETE /qbsync/health
--- error_code: 405
--- response_body chomp
{"error":"method_not_allowed","message":"the health and the status are read with GET"}
