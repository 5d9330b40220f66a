# qbsync_dead_letter: an event that no retry can sync (QuickBooks rejects
# the item, or the product cannot be mapped) is appended to the dead-letter
# file, fsync'd, and answered 200 dead_lettered, so that Stripe never
# disables the endpoint; its key stays dead_lettered.  The admin location
# lists the letters and replays them through the location that first
# received them; a replay that syncs appends a "resolved" line.

use Test::Nginx::Socket 'no_plan';

# two workers, as in production: the zone is what they share
workers(2);
master_on();

use lib 't/lib';
use Qbsync::Sim;
use Qbsync::Webhook;

Qbsync::Sim::start();

our $Created = Qbsync::Webhook::event(id => 'evt_1DeadLetter0000000000001',
                                      type => 'product.created',
                                      object => Qbsync::Webhook::product());
our $Rejected = [{ method => 'POST', path => '/v3/company/9341453201/item',
                   count => 1, status => 400 }];

# the item rejected once, then the operator replays it
sub ::steps {
    return ([reset => {}], [faults => $::Rejected], [deliver => $::Created],
            ['letters_file'], ['letters'], [deliver => $::Created],
            ['replay' => 'evt_1DeadLetter0000000000001'], ['letters'],
            ['letters_file'], [deliver => $::Created], ['state']);
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    qbsync_zone qbsync:4m;
    qbsync_dead_letter $TEST_NGINX_SERVER_ROOT/html/dead-letter.jsonl;
_EOC_
    $block->set_value('config', Qbsync::Webhook::config() . <<'_EOC_')
    location = /qbsync/dead-letter {
        qbsync_dead_letter_admin;
    }

    location = /dead-letter-file {
        default_type text/plain;
        alias $TEST_NGINX_SERVER_ROOT/html/dead-letter.jsonl;
    }
_EOC_
        unless defined $block->config;
    $block->set_value('user_files', Qbsync::Webhook::user_files()
                                    . ($block->dead_letters // ''))
        unless defined $block->user_files;
});

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a rejected item is parked, listed, a duplicate stays parked, a replay resolves it
--- pipelined_requests eval: Qbsync::Webhook::requests(::steps())
--- more_headers eval: Qbsync::Webhook::headers(::steps())
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]
--- response_body_like eval
['"realm"', '"rules"',
 '^\{"event":"evt_1DeadLetter0000000000001","action":"dead_lettered","reason":"QuickBooks fault 6000: [^"]+"\}$',
 '^\{"dead_letter":"evt_1DeadLetter0000000000001","time":"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ","endpoint":"[0-9a-f]{8}","location":"/stripe/qbsync","type":"product.created","product":"prod_QbsyncTshirt01","error":"quickbooks_rejected","reason":"QuickBooks fault 6000: [^"]+","body":"\{\\\\"id\\\\":\\\\"evt_1DeadLetter0000000000001\\\\",.*\}"\}\n$',
 '^\{"count":1,"dead_letters":\[\{"event":"evt_1DeadLetter0000000000001","time":"[^"]+","location":"/stripe/qbsync","type":"product.created","product":"prod_QbsyncTshirt01","error":"quickbooks_rejected","reason":"QuickBooks fault 6000: [^"]+"\}\]\}$',
 '^\{"duplicate":true,"event":"evt_1DeadLetter0000000000001","action":"dead_lettered"\}$',
 '^\{"count":1,"replayed":\[\{"event":"evt_1DeadLetter0000000000001","status":"200","action":"created","warning":"the product has no default price: UnitPrice left alone"\}\]\}$',
 '^\{"count":0,"dead_letters":\[\]\}$',
 '\n\{"resolved":"evt_1DeadLetter0000000000001","time":"[^"]+","endpoint":"[0-9a-f]{8}","action":"created"\}\n$',
 '^\{"duplicate":true,"event":"evt_1DeadLetter0000000000001","action":"created"\}$',
 '^\{"items":\[\{"Id":"1"[^]]*\}\],(?=.*"create":1,)']
--- error_log eval
[qr/event "evt_1DeadLetter0000000000001" parked in the dead-letter file: QuickBooks fault 6000/]



=== TEST 2: a product that cannot be mapped is parked too
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}],
    [deliver => Qbsync::Webhook::event(id => 'evt_1DeadLetterNoName000001',
        object => Qbsync::Webhook::product(name => " :\t "))],
    ['letters'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}],
    [deliver => Qbsync::Webhook::event(id => 'evt_1DeadLetterNoName000001',
        object => Qbsync::Webhook::product(name => " :\t "))],
    ['letters'])
--- response_body_like eval
['"realm"',
 '^\{"event":"evt_1DeadLetterNoName000001","action":"dead_lettered","reason":"the product.s name is empty once QuickBooks. name rules apply"\}$',
 '"count":1,.*"error":"invalid_product"']



=== TEST 3: at start the file's letters are listed, resolved ones and a torn line left out
--- dead_letters
>>> dead-letter.jsonl
{"dead_letter":"evt_1Waiting000000000000001","time":"2026-11-20T10:00:00Z","endpoint":"0000abcd","location":"/stripe/qbsync","type":"product.updated","product":"prod_A","error":"quickbooks_rejected","reason":"QuickBooks fault 6000: x","body":"{}"}
{"dead_letter":"evt_1Resolved00000000000001","time":"2026-11-20T10:00:01Z","endpoint":"0000abcd","location":"/stripe/qbsync","type":"product.updated","product":"prod_B","error":"quickbooks_rejected","reason":"QuickBooks fault 6000: y","body":"{}"}
{"resolved":"evt_1Resolved00000000000001","time":"2026-11-21T10:00:00Z","endpoint":"0000abcd","action":"updated"}
{"dead_letter":"evt_1Torn
--- request
GET /qbsync/dead-letter
--- response_body_like eval
qr/^\{"count":1,"dead_letters":\[\{"event":"evt_1Waiting000000000000001","time":"2026-11-20T10:00:00Z","location":"\/stripe\/qbsync","type":"product.updated","product":"prod_A","error":"quickbooks_rejected","reason":"QuickBooks fault 6000: x"\}\]\}$/
--- error_log eval
[qr/dead-letter file ".*", line 4 skipped/, qr/4 lines, 2 of them dead letters/]



=== TEST 4: a replay that QuickBooks still rejects stays a dead letter
--- pipelined_requests eval
Qbsync::Webhook::requests([reset => {}], [faults => $::Rejected],
    [deliver => $::Created],
    [faults => [{ %{ $::Rejected->[0] } }]],
    ['replay'], ['letters'])
--- more_headers eval
Qbsync::Webhook::headers([reset => {}], [faults => $::Rejected],
    [deliver => $::Created], [faults => []], ['replay'], ['letters'])
--- response_body_like eval
['"realm"', '"rules"', '"action":"dead_lettered"', '"rules"',
 '^\{"count":1,"replayed":\[\{"event":"evt_1DeadLetter0000000000001","status":"200","action":"dead_lettered","reason":"QuickBooks fault 6000: [^"]+"\}\]\}$',
 '^\{"count":1,"dead_letters"']



=== TEST 5: an unknown event to replay is a 404, another method a 405
--- pipelined_requests eval
["POST /qbsync/dead-letter?event=evt_1Nothing\n", "DELETE /qbsync/dead-letter"]
--- error_code eval
[404, 405]
--- response_body_like eval
['^\{"error":"not_found","message":"no dead letter of that event"\}$',
 '^\{"error":"method_not_allowed"']



=== TEST 6: a POST without an event replays every letter, one after the other
--- pipelined_requests eval
my @steps = ([reset => {}],
    [faults => [{ %{ $::Rejected->[0] }, count => 2 }]],
    (map { [deliver => Qbsync::Webhook::event(id => "evt_1DeadLetterAll00000000$_",
                type => 'product.created',
                object => Qbsync::Webhook::product(id => "prod_QbsyncAll$_",
                                                   name => "All $_"))] } 1 .. 2),
    ['letters'], ['replay'], ['letters'], ['state']);
Qbsync::Webhook::requests(@steps)
--- more_headers eval
my @steps = ([reset => {}], [faults => []],
    (map { [deliver => Qbsync::Webhook::event(id => "evt_1DeadLetterAll00000000$_",
                type => 'product.created',
                object => Qbsync::Webhook::product(id => "prod_QbsyncAll$_",
                                                   name => "All $_"))] } 1 .. 2),
    ['letters'], ['replay'], ['letters'], ['state']);
Qbsync::Webhook::headers(@steps)
--- response_body_like eval
['"realm"', '"rules"', '"action":"dead_lettered"', '"action":"dead_lettered"',
 '^\{"count":2,',
 '^\{"count":2,"replayed":\[\{"event":"evt_1DeadLetterAll00000000\d","status":"200","action":"created"[^]]*\},\{"event":"evt_1DeadLetterAll00000000\d","status":"200","action":"created"',
 '^\{"count":0,"dead_letters":\[\]\}$',
 '(?=.*"Name":"All 1")(?=.*"Name":"All 2")(?=.*"create":2,)']



=== TEST 7: a letter whose location is not in this server is not replayed
--- dead_letters
>>> dead-letter.jsonl
{"dead_letter":"evt_1Elsewhere0000000000001","time":"2026-11-20T10:00:00Z","endpoint":"0000abcd","location":"/other/qbsync","type":"product.updated","product":"prod_A","error":"quickbooks_rejected","reason":"QuickBooks fault 6000: x","body":"{\"id\":\"evt_1Elsewhere0000000000001\",\"object\":\"event\",\"created\":1,\"data\":{\"object\":{}},\"type\":\"product.updated\"}"}
--- request
POST /qbsync/dead-letter?event=evt_1Elsewhere0000000000001
--- response_body_like eval
qr/^\{"count":1,"replayed":\[\{"event":"evt_1Elsewhere0000000000001","error":"location_gone","message":"no qbsync_webhook location of this server received it[^"]*"\}\]\}$/
