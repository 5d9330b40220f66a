# When QuickBooks fails, the event is handed back to Stripe (503 with
# Retry-After, its key released) and the redelivery completes it; a stale
# SyncToken is read and retried; faults no retry can fix are 422; two
# events of one product never sync at once.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
master_on();
use lib 't/lib';
use Qbsync::Backend;
use Qbsync::Sim;
use Qbsync::Webhook;

Qbsync::Backend::start();
Qbsync::Sim::start();

sub ::created {
    my (%product) = @_;
    return Qbsync::Webhook::event(type => 'product.created',
                                  object => Qbsync::Webhook::product(%product));
}

sub ::updated {
    my ($second, %product) = @_;
    return Qbsync::Webhook::event(type => 'product.updated',
                                  created => $Qbsync::Webhook::Created + $second,
                                  object => Qbsync::Webhook::product(%product));
}

our $Created = ::created();

add_block_preprocessor(sub { Qbsync::Webhook::defaults(shift) });

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: QuickBooks 500 is retried within the delivery: one write
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [faults => [{ method => 'POST', path => '/v3/company/', count => 1,
                  status => 500 }]],
    [deliver => $::Created], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [faults => [{ method => 'POST', path => '/v3/company/', count => 1,
                  status => 500 }]],
    [deliver => $::Created], ['state'])
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
['"realm"', '"rules"', '"action":"created"',
 '^\{"items":\[\{"Id":"1"[^]]*\}\],(?=.*"create":1,)(?=.*"faults_injected":1\b)']
--- error_log eval
qr/QuickBooks answered 500 for event "evt_\w+", intuit_tid "1-\w+-\w+"; try 2 of 3 in 250 ms/



=== TEST 2: QuickBooks 500 on every try is a 503 for Stripe, and the redelivery syncs
attempts=3 by default: the first try and two retries, 250 and 500 ms
apart; then the event is handed back with its key released.
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [faults => [{ method => 'POST', path => '/v3/company/', count => 3,
                  status => 500 }]],
    [deliver => $::Created], [deliver => $::Created], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [faults => [{ method => 'POST', path => '/v3/company/', count => 3,
                  status => 500 }]],
    [deliver => $::Created], [deliver => $::Created], ['state'])
--- error_code eval
[200, 200, 503, 200, 200]
--- response_headers eval
['', '', 'Retry-After: 30', '!Retry-After', '']
--- response_body_like eval
['"realm"', '"rules"',
 '^\{"error":"quickbooks_unavailable","message":"QuickBooks could not take the change now; retry later"\}$',
 '"action":"created"', '(?=.*"create":1,)(?=.*"faults_injected":3\b)']
--- error_log eval
[qr/QuickBooks answered 500 for event "evt_\w+", intuit_tid "1-\w+-\w+"; try 2 of 3 in 250 ms/,
 qr/QuickBooks answered 500 for event "evt_\w+", intuit_tid "1-\w+-\w+"; try 3 of 3 in 500 ms/,
 qr/QuickBooks answered 500 for event "evt_\w+", intuit_tid "1-\w+-\w+"(?!;)/]
--- no_error_log
try 4 of 3



=== TEST 3: a throttled QuickBooks asks Stripe to wait a minute
A 429 wants a minute of quiet, far past the budget of one delivery: no
retry, the event goes back to Stripe at once.
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [faults => [{ path => '/v3/company/', count => 1, status => 429 }]],
    [deliver => $::Created], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [faults => [{ path => '/v3/company/', count => 1, status => 429 }]],
    [deliver => $::Created], ['state'])
--- error_code eval
[200, 200, 503, 200]
--- response_headers eval
['', '', 'Retry-After: 60', '']
--- response_body_like eval
['"realm"', '"rules"', '"quickbooks_unavailable"', '(?=.*"faults_injected":1\b)(?=.*"query":0,)']
--- no_error_log
try 2 of



=== TEST 4: a QuickBooks that does not answer in time is tried again
The stall outlasts proxy_read_timeout (2s): nginx's proxy answers 504
and the call goes again.
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [faults => [{ path => '/v3/company/', count => 1, kind => 'timeout',
                  delay_ms => 5000 }]],
    [deliver => $::Created], [deliver => $::Created])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [faults => [{ path => '/v3/company/', count => 1, kind => 'timeout',
                  delay_ms => 5000 }]],
    [deliver => $::Created], [deliver => $::Created])
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
['"realm"', '"rules"', '"action":"created"', '"duplicate":true']
--- timeout: 8
--- error_log eval
[qr/upstream timed out/, qr/QuickBooks could not be reached: 504 for event "evt_\w+", intuit_tid ""; try 2 of 3 in 250 ms/]



=== TEST 5: a connection reset is tried again too
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [faults => [{ path => '/v3/company/', count => 1, kind => 'reset' }]],
    [deliver => $::Created], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [faults => [{ path => '/v3/company/', count => 1, kind => 'reset' }]],
    [deliver => $::Created], ['state'])
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
['"realm"', '"rules"', '"action":"created"', '"create":1,']
--- error_log eval
qr/QuickBooks could not be reached: 502 for event "evt_\w+", intuit_tid ""; try 2 of 3 in 250 ms/



=== TEST 6: a stale SyncToken is read again and the update retried once
Someone edits the item in QuickBooks (its SyncToken moves on), then a
rename arrives with the cached SyncToken.
--- user_files eval
Qbsync::Webhook::user_files(tokens => qq({"access_token":"$Qbsync::Webhook::AccessToken","refresh_token":"rt-initial","expires_at":4102444800}))
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => { access_token => $Qbsync::Webhook::AccessToken }],
    [deliver => $::Created],
    [qbo => { sparse => JSON::PP::true, Id => '1', SyncToken => '0',
              Name => 'T-shirt', Description => 'edited in QuickBooks' }],
    [deliver => ::updated(1, name => 'Renamed')], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [deliver => $::Created], [qbo => {}],
    [deliver => ::updated(1, name => 'Renamed')], ['state'])
--- response_body_like eval
['"realm"', '"action":"created"', '"SyncToken":"1"', '"action":"updated"',
 '"SyncToken":"2","Name":"Renamed","Sku":"prod_QbsyncTshirt01","Description":"Comfortable cotton t-shirt".*"read":1,']



=== TEST 7: a validation fault is a 422 with QuickBooks' words
The income account does not exist in the company.
--- config eval
Qbsync::Webhook::config(item => 'type=Service income_account=79 '
                                . 'expense_account=80 currency=usd')
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [faults => [{ method => 'POST', path => '/v3/company/', count => 1,
                  status => 400,
                  body => '{"Fault":{"Error":[{"Message":"Invalid Reference Id","Detail":"Invalid Reference Id : Accounts element id 79 not found","code":"2500"}],"type":"ValidationFault"},"time":"2026-11-27T10:00:00.000-08:00"}' }]],
    [deliver => $::Created])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [faults => [{ method => 'POST', path => '/v3/company/', count => 1,
                  status => 400,
                  body => '{"Fault":{"Error":[{"Message":"Invalid Reference Id","Detail":"Invalid Reference Id : Accounts element id 79 not found","code":"2500"}],"type":"ValidationFault"},"time":"2026-11-27T10:00:00.000-08:00"}' }]],
    [deliver => $::Created])
--- error_code eval
[200, 200, 422]
--- response_body_like eval
['"realm"', '"rules"',
 '^\{"error":"quickbooks_rejected","message":"QuickBooks fault 2500: Invalid Reference Id: Invalid Reference Id : Accounts element id 79 not found"\}$']
--- error_log
QuickBooks rejected the item of "prod_QbsyncTshirt01"



=== TEST 8: a create whose answer was lost is not made twice
QuickBooks creates the item but the connection breaks before the answer;
the retry carries the same requestid and QuickBooks answers it with the
item it made, no second item.
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [faults => [{ method => 'POST', path => '/v3/company/9341453201/item',
                  count => 1, kind => 'reset', process => JSON::PP::true }]],
    [deliver => $::Created], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [faults => [{ method => 'POST', path => '/v3/company/9341453201/item',
                  count => 1, kind => 'reset', process => JSON::PP::true }]],
    [deliver => $::Created], ['state'])
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
['"realm"', '"rules"', '"action":"created","qb_item_id":"1"',
 '^\{"items":\[\{"Id":"1"[^]]*\}\],(?=.*"create":1,)(?=.*"replayed":1,)']



=== TEST 9: a create whose answer was lost on every try: the redelivery finds the item
The item was made, but no answer came back within the delivery; Stripe's
redelivery finds it by its Sku and writes it, no second item.
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [faults => [{ method => 'POST', path => '/v3/company/9341453201/item',
                  count => 3, kind => 'reset', process => JSON::PP::true }]],
    [deliver => $::Created], [deliver => $::Created], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [faults => [{ method => 'POST', path => '/v3/company/9341453201/item',
                  count => 3, kind => 'reset', process => JSON::PP::true }]],
    [deliver => $::Created], [deliver => $::Created], ['state'])
--- error_code eval
[200, 200, 503, 200, 200]
--- response_body_like eval
['"realm"', '"rules"', '"quickbooks_unavailable"',
 '"action":"updated","qb_item_id":"1"',
 '^\{"items":\[\{"Id":"1"[^]]*\}\],.*"create":1,']



=== TEST 10: two events of one product at once: the second waits its turn
The first event goes in through /first (a mirror of /both, proxied to the
webhook with the first event's body and signature) and meets a slow
QuickBooks; the second arrives half a second later and gets 409.
--- config eval
my $body = $::Created;
my $signature = Qbsync::Stripe::signature($body);
Qbsync::Webhook::config() . <<"_EOC_";
    location = /both {
        mirror /first;
        mirror_request_body off;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/later;
    }

    location = /first {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/stripe/qbsync;
        proxy_method POST;
        proxy_set_header Stripe-Signature '$signature';
        proxy_set_header Content-Type application/json;
        proxy_set_body '$body';
    }

    location = /later {
        auth_request /pause;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/stripe/qbsync;
    }

    location = /pause {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_BACKEND_PORT/delay/500;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
    }
_EOC_
--- pipelined_requests eval
my $second = ::updated(1, name => 'Second');
my @r = @{ Qbsync::Webhook::requests([reset => {}],
    [faults => [{ method => 'POST', path => '/v3/company/9341453201/item',
                  count => 1, kind => 'delay', delay_ms => 1500 }]],
    [deliver => $second]) };
$r[2] =~ s{^POST /stripe/qbsync}{POST /both};
\@r
--- more_headers eval
my $second = ::updated(1, name => 'Second');
Qbsync::Webhook::headers([reset => {}], [faults => []], [deliver => $second])
--- error_code eval
[200, 200, 409]
--- response_headers eval
['', '', 'Retry-After: 60']
--- response_body_like eval
['"realm"', '"rules"',
 '^\{"error":"in_progress","message":"another event of this product is being synced; retry later"\}$']
--- wait: 1.5
--- timeout: 5
