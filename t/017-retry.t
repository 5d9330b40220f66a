# qbsync_retry: a call that fails for a reason that may pass (5xx, 429,
# a timeout, a reset) is tried again within the delivery, as the chosen
# strategy spaces the tries, while attempts and the budget last; then the
# event goes back to Stripe.  Faults no retry can fix are never retried.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
master_on();
use lib 't/lib';
use Qbsync::Sim;
use Qbsync::Webhook;

Qbsync::Sim::start();

our $Created = Qbsync::Webhook::event(type => 'product.created',
                                      object => Qbsync::Webhook::product());

# the steps of a block: faults on QuickBooks' item and query paths, one
# delivery, the simulator's state
sub ::steps {
    my (%fault) = @_;
    return ([reset => {}],
            [faults => [{ path => '/v3/company/', count => 1, status => 500,
                          %fault }]],
            [deliver => $::Created], ['state']);
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', 'qbsync_zone qbsync:4m;');
    $block->set_value('user_files', Qbsync::Webhook::user_files());

    if (defined $block->retry) {
        $block->set_value('config', Qbsync::Webhook::config(
            extra => '        ' . $block->retry . "\n"));
    }

    if (defined $block->fault) {
        my %fault = eval $block->fault;
        die $@ if $@;
        $block->set_value('pipelined_requests',
                          Qbsync::Webhook::requests(::steps(%fault)));
        $block->set_value('more_headers',
                          Qbsync::Webhook::headers(::steps(%fault)));
    }
});

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: linear: base, 2 base, 3 base
--- retry: qbsync_retry strategy=linear attempts=4 base=100ms max=1s budget=5s;
--- fault: (count => 3, status => 503)
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
['"realm"', '"rules"', '"action":"created"', '(?=.*"create":1,)(?=.*"faults_injected":3\b)']
--- error_log eval
[qr/QuickBooks answered 503 for event "evt_\w+", intuit_tid "[^"]*"; try 2 of 4 in 100 ms/,
 qr/try 3 of 4 in 200 ms/, qr/try 4 of 4 in 300 ms/]



=== TEST 2: fibonacci: base, base, 2 base, 3 base
--- retry: qbsync_retry strategy=fibonacci attempts=5 base=100ms max=1s;
--- fault: (count => 4)
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
['"realm"', '"rules"', '"action":"created"', '(?=.*"create":1,)(?=.*"faults_injected":4\b)']
--- error_log eval
[qr/try 2 of 5 in 100 ms/, qr/try 3 of 5 in 100 ms/, qr/try 4 of 5 in 200 ms/,
 qr/try 5 of 5 in 300 ms/]



=== TEST 3: exponential, capped by max
--- retry: qbsync_retry attempts=4 base=100ms max=150ms;
--- fault: (count => 3)
--- error_code eval
[200, 200, 200, 200]
--- error_log eval
[qr/try 2 of 4 in 100 ms/, qr/try 3 of 4 in 150 ms/, qr/try 4 of 4 in 150 ms/]



=== TEST 4: decorrelated jitter stays within [base, 3 x the last wait], under max
--- retry: qbsync_retry strategy=jitter jitter=decorrelated attempts=3 base=100ms max=250ms;
--- fault: (count => 2)
--- error_code eval
[200, 200, 200, 200]
--- error_log eval
[qr/try 2 of 3 in (1\d\d|2[0-4]\d|250) ms/, qr/try 3 of 3 in (1\d\d|2[0-4]\d|250) ms/]



=== TEST 5: full jitter: anywhere from 0 to the exponential wait
--- retry: qbsync_retry strategy=jitter attempts=3 base=100ms max=1s;
--- fault: (count => 2)
--- error_code eval
[200, 200, 200, 200]
--- error_log eval
[qr/try 2 of 3 in (\d|\d\d|100) ms/, qr/try 3 of 3 in (\d|\d\d|1\d\d|200) ms/]



=== TEST 6: out of budget: the wait that would pass it is not taken
1 s of the 2.5 s budget goes on the first wait; the next one (2 s) would
end past it, so the event goes back to Stripe after two tries.  The 1.5 s
left for the first try and its token refresh is room for valgrind.
--- retry: qbsync_retry attempts=5 base=1s max=2s budget=2500ms;
--- fault: (count => 5)
--- error_code eval
[200, 200, 503, 200]
--- response_headers eval
['', '', 'Retry-After: 30', '']
--- response_body_like eval
['"realm"', '"rules"', '"quickbooks_unavailable"', '"faults_injected":2\b']
--- error_log eval
[qr/try 2 of 5 in 1000 ms/, qr/QuickBooks answered 500 for event "evt_\w+", intuit_tid "[^"]*"(?!;)/]
--- no_error_log
try 3 of 5
--- timeout: 5



=== TEST 7: attempts=1: no retry at all
--- retry: qbsync_retry attempts=1;
--- fault: (count => 1)
--- error_code eval
[200, 200, 503, 200]
--- response_body_like eval
['"realm"', '"rules"', '"quickbooks_unavailable"', '"faults_injected":1\b']
--- no_error_log
try 2 of



=== TEST 8: a validation fault is never retried
--- retry: qbsync_retry attempts=4 base=100ms;
--- fault: (method => 'POST', path => '/v3/company/9341453201/item', status => 400)
--- error_code eval
[200, 200, 422, 200]
--- response_body_like eval
['"realm"', '"rules"', '"quickbooks_rejected"', '"create":0,']
--- no_error_log
try 2 of



=== TEST 9: qbsync_retry is inherited from the server level
--- config eval
"    qbsync_retry attempts=2 base=100ms;\n" . Qbsync::Webhook::config()
--- fault: (count => 2)
--- error_code eval
[200, 200, 503, 200]
--- error_log eval
[qr/try 2 of 2 in 100 ms/]
--- no_error_log
try 3 of



=== TEST 10: the rate limit leaves no room within the budget: back to Stripe with the limiter's Retry-After
One call a minute: the first event's query takes the slot, its next call
would wait a minute, far past the budget.
--- retry: qbsync_rate_limit 1r/m; qbsync_retry budget=2s;
--- fault: (count => 0)
--- error_code eval
[200, 200, 503, 200]
--- response_headers_like eval
['', '', 'Retry-After: (6[0-4])', '']
--- response_body_like eval
['"realm"', '"rules"',
 '^\{"error":"quickbooks_rate_limited","message":"QuickBooks. rate limit leaves no room for this event now; retry later"\}$',
 '"query":1,']
--- error_log eval
qr/the rate limit of realm "9341453201" leaves no room for event "evt_\w+" within its budget; back to Stripe for 6[0-4] s/
