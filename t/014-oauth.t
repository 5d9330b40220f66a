# The QuickBooks connection's tokens: refreshed when expired or refused,
# the rotated refresh token saved to the token file before it is used,
# Intuit's invalid_grant answered with 503 until the operator writes a new
# authorisation to the file, and no token ever in a log.

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
our $Updated = Qbsync::Webhook::event(type => 'product.updated',
    created => $Qbsync::Webhook::Created + 1,
    object => Qbsync::Webhook::product(name => 'Updated'));

our $Expired = qq({"access_token":"at-expired","refresh_token":"rt-initial",)
               . qq("expires_at":1700000000});

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', 'qbsync_zone qbsync:4m;');
    $block->set_value('config', Qbsync::Webhook::config());
    $block->set_value('user_files', Qbsync::Webhook::user_files(tokens => $::Expired))
        unless defined $block->user_files;
});

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: an expired access token is refreshed once, then the sync goes on
--- log_level: info
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [deliver => $::Created], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [deliver => $::Created], ['state'])
--- response_body_like eval
['"realm"', '"action":"created"', '"refresh":1,']
--- error_log
refreshed the QuickBooks access token of
--- no_error_log
rt-initial
at-expired
cWJzeW5jLWNsaWVudDpxYnN5bmMtY2xpZW50LXNlY3JldA
[error]



=== TEST 2: the rotated refresh token is saved to the token file
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [deliver => $::Created], ['file'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [deliver => $::Created], ['file'])
--- response_body_like eval
['"realm"', '"action":"created"',
 '^\{"access_token":"[^"]+","refresh_token":"(?!rt-initial")[^"]+","expires_at":\d+,"refresh_token_expires_at":\d+\}$']



=== TEST 3: a file with only a refresh token is enough to start
--- user_files eval
Qbsync::Webhook::user_files()
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [deliver => $::Created], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [deliver => $::Created], ['state'])
--- response_body_like eval
['"realm"', '"action":"created"', '"refresh":1,']



=== TEST 4: a 401 from QuickBooks refreshes the token and retries once
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [deliver => $::Created],
    [tokens => { expire_access_tokens => JSON::PP::true }],
    [deliver => $::Updated], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [deliver => $::Created],
    [tokens => {}], [deliver => $::Updated], ['state'])
--- response_body_like eval
['"realm"', '"action":"created"', '"has_valid_access_token":false',
 '"action":"updated"', '"refresh":2,.*"unauthorized":1,']



=== TEST 5: the XML 401 is understood as well
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => { auth_fault_format => 'xml' }],
    [deliver => $::Created],
    [tokens => { expire_access_tokens => JSON::PP::true }],
    [deliver => $::Updated])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [deliver => $::Created],
    [tokens => {}], [deliver => $::Updated])
--- response_body_like eval
['"realm"', '"action":"created"', '"has_valid_access_token":false',
 '"action":"updated"']



=== TEST 6: invalid_grant: every sync answers 503, the alert is logged once
Intuit refuses the refresh token (revoked, or rotated elsewhere); only a
new authorisation written to the token file helps (t/015).
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [tokens => { revoke_refresh_token => JSON::PP::true }],
    [deliver => $::Created], [deliver => $::Created], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [tokens => {}],
    [deliver => $::Created], [deliver => $::Created], ['state'])
--- error_code eval
[200, 200, 503, 503, 200]
--- response_headers eval
['', '', 'Retry-After: 300', 'Retry-After: 300', '']
--- response_body_like eval
['"realm"', '"has_refresh_token":false',
 '^\{"error":"quickbooks_reauthorization_required","message":"Intuit refused the refresh token; the QuickBooks connection must be re-authorised"\}$',
 '"quickbooks_reauthorization_required"',
 '"refresh":0,"refresh_failed":1,']
--- error_log eval
['[alert]', qr/must be re-authorised; write a new refresh token to that file; intuit_tid "[^"]+"/]
--- grep_error_log eval: qr/Intuit refused the refresh token of "[^"]+" \(invalid_grant[^)]*\)/
--- grep_error_log_out eval
qr/\AIntuit refused the refresh token of "[^"]+" \(invalid_grant[^)]*\)\n\z/



=== TEST 7: a refresh token close to its end is warned about
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => { refresh_token_lifetime => 86400 }],
    [deliver => $::Created])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [deliver => $::Created])
--- response_body_like eval
['"realm"', '"action":"created"']
--- error_log
expires within 1 days; re-authorise the connection before then



=== TEST 8: Intuit down during a refresh is a 503 to retry
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [faults => [{ path => '/oauth2/', count => 1, status => 503 }]],
    [deliver => $::Created], [deliver => $::Created])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [faults => []],
    [deliver => $::Created], [deliver => $::Created])
--- error_code eval
[200, 200, 503, 200]
--- response_body_like eval
['"realm"', '"rules"',
 '^\{"error":"quickbooks_unavailable","message":"no QuickBooks access token could be had; retry later"\}$',
 '"action":"created"']
--- error_log
refreshing the QuickBooks token failed: status 503
