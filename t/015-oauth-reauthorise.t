# After invalid_grant, the operator's new token file is the new
# authorisation: noticed by the file's identity, without a restart.  These
# blocks run against one nginx sent HUP between them (the refusal is kept
# in the zone), and each block writes its token file.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
use lib 't/lib';
use Qbsync::Sim;
use Qbsync::Webhook;

Qbsync::Sim::start();

our $Created = Qbsync::Webhook::event(type => 'product.created',
                                      object => Qbsync::Webhook::product());

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', 'qbsync_zone qbsync:4m;');
    $block->set_value('config', Qbsync::Webhook::config());
});

use_hup();
master_on();
check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: Intuit refuses the refresh token
--- user_files eval
Qbsync::Webhook::user_files(tokens => '{"refresh_token":"rt-initial"}')
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [tokens => { revoke_refresh_token => JSON::PP::true }],
    [deliver => $::Created])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [tokens => {}],
    [deliver => $::Created])
--- error_code eval
[200, 200, 503]
--- response_body_like eval
['"realm"', '"has_refresh_token":false', '"quickbooks_reauthorization_required"']
--- error_log
[alert]



=== TEST 2: a new refresh token in the file re-authorises the connection
--- user_files eval
Qbsync::Webhook::user_files(tokens => '{"refresh_token":"rt-reauthorised"}')
--- pipelined_requests eval
Qbsync::Webhook::requests([tokens => { refresh_token => 'rt-reauthorised' }],
    [deliver => $::Created], ['state'])
--- more_headers eval
Qbsync::Webhook::headers([tokens => {}], [deliver => $::Created], ['state'])
--- error_code eval
[200, 200, 200]
--- response_body_like eval
['"has_refresh_token":true', '"action":"created"', '"refresh":1,']
--- error_log
read the QuickBooks tokens from
--- no_error_log
rt-reauthorised
