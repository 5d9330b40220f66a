# qbsync_statsd: the first worker pushes the zone's counters, gauges and
# stage timers over UDP in plain StatsD lines; a StatsD that is down costs
# the deliveries nothing; a reload does not wait for the push timer.
#
#   TEST_NGINX_BINARY=/usr/sbin/nginx \
#   TEST_NGINX_LOAD_MODULES=$PWD/build/ngx_http_qbsync_module.so \
#   prove t/load/statsd.t

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);

use Qbsync::Nginx;
use Qbsync::Sim;
use Qbsync::Webhook;

my $module = $ENV{TEST_NGINX_LOAD_MODULES}
             // Qbsync::Nginx::top() . '/build/ngx_http_qbsync_module.so';
$ENV{TEST_NGINX_BINARY} //= '/usr/sbin/nginx';

plan skip_all => "no module at $module (tools/build)" unless -f $module;

my $sim = Qbsync::Sim::start();
Qbsync::Sim::control(POST => '/_sim/reset', {});

my $statsd = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1')
    or die "UDP listener: $!";
my $port = $statsd->sockport;


sub deliver {
    my ($nginx, $n) = @_;
    return $nginx->deliver(Qbsync::Webhook::event(
        type => 'product.created',
        object => Qbsync::Webhook::product(id => "prod_QbsyncStatsd$n",
                                           name => "StatsD $n")));
}

# every line received within $seconds
sub receive {
    my ($seconds) = @_;
    my $select = IO::Select->new($statsd);
    my $deadline = time + $seconds;
    my @lines;
    while ((my $left = $deadline - time) > 0) {
        last unless $select->can_read($left);
        $statsd->recv(my $datagram, 65536);
        push @lines, split /\n/, $datagram;
    }
    return @lines;
}

my $nginx = Qbsync::Nginx->webhook(
    sim => $sim,
    http => "    qbsync_statsd 127.0.0.1:$port interval=500ms prefix=qbsync;\n");

is deliver($nginx, 1)->{status}, 200, 'a product synced';
is deliver($nginx, 1)->{status}, 200, 'and its redelivery';

my @lines = receive(2);
my %seen = map { $_ => 1 } @lines;

for my $line ('qbsync.webhooks.created:1|c', 'qbsync.webhooks.duplicate:1|c',
              'qbsync.quickbooks.calls.query.200:2|c',
              'qbsync.quickbooks.calls.create.200:1|c',
              'qbsync.quickbooks.calls.token_refresh.200:1|c',
              'qbsync.dead_letters:0|g')
{
    ok $seen{$line}, "pushed: $line" or diag join "\n", @lines;
}

ok((grep { /^qbsync\.stage\.total:\d+\.\d{3}\|ms$/ } @lines),
   'a timer for the total stage, in milliseconds');
ok((grep { /^qbsync\.zone\.used_bytes:\d+\|g$/ } @lines),
   'a gauge for the zone');
ok(!(grep { !/^qbsync\.[a-z_.0-9]+:\d+(?:\.\d+)?\|(?:c|g|ms)$/ } @lines),
   'only plain StatsD lines, no tags');

# counters go out as differences: nothing new, no counter line
my @quiet = grep { /\|c$/ } receive(1.5);
is scalar @quiet, 0, 'a quiet interval pushes no counter';

# --- a reload does not wait for the push timer ----------------------------

my $slow = Qbsync::Nginx->webhook(
    sim => $sim,
    http => "    qbsync_statsd 127.0.0.1:$port interval=1h;\n");
my $t0 = time;
$slow->reload;
ok time - $t0 < 5, sprintf 'a reload with interval=1h took %.1f s', time - $t0;
$slow->stop;

# --- a StatsD that is down --------------------------------------------------

$statsd->close;
my $started = time;
for my $n (2 .. 6) {
    deliver($nginx, $n)->{status} == 200 or die "delivery $n failed";
}
sleep 1.2;
ok time - $started < 10, 'deliveries go on with no StatsD listening';
unlike $nginx->error_log, qr/\[(?:alert|crit|emerg|error)\].*statsd/i,
       'and nothing logged above debug';

$nginx->stop;

done_testing;
