# W3C trace context: a delivery's traceparent is carried on, with a span
# of its own, to every call to QuickBooks and Intuit, into the events and
# into $qbsync_trace_id and $qbsync_traceparent; without one (or with one
# that is not valid), the delivery starts a trace of its own.

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
our $Trace = '4bf92f3577b34da6a3ce929d0e0e4736';

# "<trace ids of the calls>|<distinct span ids>|<calls>" from the state
sub ::calls {
    my $doc = eval { JSON::PP->new->decode($_[0]) } or return "not JSON";
    my @tp = map { $_->{traceparent} // 'none' } @{ $doc->{requests} };
    my %traces = map { /^00-([0-9a-f]{32})-[0-9a-f]{16}-01$/ ? ($1 => 1)
                                                            : ('bad' => 1) }
                 @tp;
    my %spans = map { /-([0-9a-f]{16})-01$/ ? ($1 => 1) : () } @tp;
    return join('|', join(',', sort keys %traces), scalar(keys %spans),
                scalar @tp);
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', Qbsync::Webhook::config(
        extra => "        add_header X-Traceparent \$qbsync_traceparent;\n"
                 . "        add_header X-Trace-Id \$qbsync_trace_id;\n") . <<'_EOC_')
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

=== TEST 1: the caller's trace goes on to every call, a span each
--- pipelined_requests eval
[ @{ Qbsync::Webhook::requests([reset => {}], [deliver => $::Created],
                               ['state']) },
  "GET /qbsync/events?type=item_created" ]
--- more_headers eval
my @h = @{ Qbsync::Webhook::headers([reset => {}], [deliver => $::Created],
                                    ['state']) };
$h[1] .= "traceparent: 00-$::Trace-00f067aa0ba902b7-01\n";
[ @h, "" ]
--- response_headers eval
['', "X-Trace-Id: $::Trace", '', '']
--- response_headers_like eval
['', "X-Traceparent: 00-$::Trace-(?!00f067aa0ba902b7)[0-9a-f]{16}-01", '', '']
--- response_body_filters eval
[[], [], [\&::calls], []]
--- response_body_like eval
['"realm"', '"created"', "^$::Trace\\|4\\|4\$",
 "\"trace_id\":\"$::Trace\""]



=== TEST 2: without a traceparent, or with an invalid one, a trace of its own
--- pipelined_requests eval
[ @{ Qbsync::Webhook::requests([reset => {}], [deliver => $::Created],
                               ['state']) } ]
--- more_headers eval
my @h = @{ Qbsync::Webhook::headers([reset => {}], [deliver => $::Created],
                                    ['state']) };
$h[1] .= "traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01\n";
[ @h ]
--- response_headers_like eval
['', 'X-Trace-Id: (?!0{32})[0-9a-f]{32}', '']
--- response_body_filters eval
[[], [], [\&::calls]]
--- response_body_like eval
['"realm"', '"created"', '^(?!0{32})[0-9a-f]{32}\|4\|4$']
