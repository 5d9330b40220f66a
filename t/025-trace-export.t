# qbsync_trace_export: each delivery's trace leaves as one OTLP/HTTP JSON
# export (a background subrequest), to a collector stand-in: the request's
# span under the caller's, and a span for each stage and each call to
# QuickBooks and Intuit, all of the caller's trace.

use Test::Nginx::Socket 'no_plan';

workers(1);
master_on();
use lib 't/lib';
use JSON::PP;
use Qbsync::Backend;
use Qbsync::Sim;
use Qbsync::Stripe;
use Qbsync::Webhook;

Qbsync::Backend::start();
Qbsync::Sim::start();

our $Created = Qbsync::Webhook::event(type => 'product.created',
                                      object => Qbsync::Webhook::product());
our $Trace = '4bf92f3577b34da6a3ce929d0e0e4736';
our $Parent = '00f067aa0ba902b7';

# the collector's exports as "name/kind/parent/status" lines, checked on
# the way: one trace id, the request's span the parent of the others
sub ::exports {
    my @lines;
    for my $line (split /\n/, $_[0]) {
        my $doc = eval { JSON::PP->new->decode($line) } or return "not JSON";
        my $spans = $doc->{resourceSpans}[0]{scopeSpans}[0]{spans};
        my ($root) = grep { ($_->{kind} // 0) == 2 } @$spans;
        for my $s (@$spans) {
            return "another trace: $s->{traceId}" if $s->{traceId} ne $::Trace;
            return "no time" unless $s->{startTimeUnixNano} =~ /^\d{19}$/
                                 && $s->{endTimeUnixNano} >= $s->{startTimeUnixNano};
            my $status = $s->{attributes} ? $s->{attributes}[0]{value}{intValue}
                                          : '-';
            my $parent = !$s->{parentSpanId} ? 'none'
                       : $s->{parentSpanId} eq $::Parent ? 'caller'
                       : $s->{parentSpanId} eq $root->{spanId} ? 'request'
                       : 'other';
            push @lines, "$s->{name}/$s->{kind}/$parent/$status";
        }
        push @lines, '--';
    }
    return join "\n", @lines;
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', Qbsync::Webhook::config(
        extra => "        qbsync_trace_export /_qbsync/otlp;\n") . <<'_EOC_')
    location = /_qbsync/otlp {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT/collect;
        proxy_connect_timeout 1s;
        proxy_read_timeout 1s;
    }
    location = /collected {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT/collect;
    }
_EOC_
        unless defined $block->config;
    Qbsync::Webhook::defaults($block);
});

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a delivery's trace: the request under the caller's span, its stages and calls under it
--- pipelined_requests eval
[ @{ Qbsync::Webhook::requests([reset => {}], [deliver => $::Created]) },
  "GET /collected" ]
--- more_headers eval
my @h = @{ Qbsync::Webhook::headers([reset => {}], [deliver => $::Created]) };
$h[1] .= "traceparent: 00-$::Trace-$::Parent-01\n";
[ @h, "" ]
--- response_body_filters eval
[[], [], [\&::exports]]
--- response_body_like eval
['"realm"', '"created"',
 qr{\A/stripe/qbsync/2/caller/200\nverify/1/request/-\nparse/1/request/-\ndedupe/1/request/-\nqueue_wait/1/request/-\ntoken_refresh/3/request/200\nquery/3/request/200\nqueue_wait/1/request/-\nquery/3/request/200\nqueue_wait/1/request/-\ncreate/3/request/200\n--\z}]
--- no_error_log
[error]
