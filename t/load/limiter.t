# The rate limiter in time: two workers and a dozen concurrent senders
# push more events at QuickBooks than it allows, against the simulator
# throttling as QuickBooks does, with its minute scaled down to 5 seconds.
# The module must reach the limit without ever being answered 429; a 429
# forced on it must stop the calls for the cooldown, and the rate must
# recover.  Times are asserted with generous tolerances.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use Qbsync::Nginx;
use Qbsync::Sender;
use Qbsync::Sim;
use Qbsync::Stripe;
use Qbsync::Webhook;

# QuickBooks' 500 a minute, scaled: 100 calls in any 5 s
my $scale = 12;
my $per_minute = 100;
my $limit = $per_minute * $scale;     # the same, in calls a real minute

my $sim = Qbsync::Sim::start();

Qbsync::Sim::control(POST => '/_sim/reset', {
    throttle => { enabled => JSON::PP::true, per_minute => $per_minute,
                  per_second => 10, concurrent => 10,
                  time_scale => $scale },
});

my $nginx = Qbsync::Nginx->webhook(sim => $sim, zone => '4m',
                                   directives => <<"_EOD_");
            qbsync_rate_limit ${limit}r/m cooldown=2s;
            qbsync_retry budget=10s;
_EOD_

# product.created of products QuickBooks has never seen: three calls each
sub created {
    my ($from, $to) = @_;
    return [ map {
        Qbsync::Webhook::event(
            id     => sprintf('evt_1QbsyncLoad%012d', $_),
            type   => 'product.created',
            object => Qbsync::Webhook::product(id   => "prod_QbsyncLoad$_",
                                               name => "Load product $_"))
    } $from .. $to ];
}

sub throttle { Qbsync::Sim::control(GET => '/_sim/state')->{throttle} }

# --- saturation: more than the limit, for well over a scaled minute -------

my $events = created(1, 84);
my $started = time;
my $result = Qbsync::Sender::deliver(url => $nginx->url('/stripe/qbsync'),
                                     events => $events, senders => 12,
                                     pause => 0.5, deadline => 90);
my $elapsed = time - $started;
my $state = Qbsync::Sim::control(GET => '/_sim/state');
my $meter = $state->{throttle};

is(scalar(grep { $_ == 200 } values %{ $result->{answers} }), 84,
   'every event is synced in the end');
is($meter->{throttled}, 0, 'QuickBooks never answered 429');

my $calls = $meter->{accepted};
my $rate = $calls / $elapsed * 60;
diag(sprintf '%d calls in %.1f s: %.0f a minute against a limit of %d; '
     . 'busiest scaled minute %d of %d, busiest scaled second %d; '
     . 'deliveries %d (%s)', $calls, $elapsed, $rate, $limit,
     $meter->{max_in_any_minute}, $per_minute, $meter->{max_in_any_second},
     $result->{deliveries},
     join(', ', map { "$_: $result->{statuses}{$_}" }
                    sort keys %{ $result->{statuses} }));

cmp_ok($meter->{max_in_any_minute}, '<=', $per_minute,
       'no sliding (scaled) minute over the limit');
cmp_ok($meter->{max_in_any_minute}, '>=', 0.9 * $per_minute,
       'the busiest minute within 10 % of the limit');
cmp_ok($rate, '>=', 0.8 * $limit, 'the whole run near the limit');
is(scalar @{ $state->{items} }, 84, 'one item a product, no duplicate');

# upstream keepalive 16 in each worker: the calls share a few connections
cmp_ok($state->{counts}{api_connections}, '<=', 2 * 16 + 2,
       "$calls calls over $state->{counts}{api_connections} connections: "
       . 'reused');

# --- a forced 429: a cooldown, then recovery -------------------------------

Qbsync::Sim::control(POST => '/_sim/faults', { rules => [
    { path => '/v3/company/', count => 1, status => 429 } ] });

my @gaps;
my $last = 0;
$events = created(101, 130);
$started = time;
$result = Qbsync::Sender::deliver(url => $nginx->url('/stripe/qbsync'),
                                  events => $events, senders => 6,
                                  pause => 0.5, deadline => 60);
$elapsed = time - $started;
$meter = throttle();

is(scalar(grep { $_ == 200 } values %{ $result->{answers} }), 30,
   'after the 429, every event is synced');
is($meter->{throttled}, 0, 'and the throttle itself never answered 429');
like($nginx->error_log, qr/QuickBooks answered 429 for event/,
     'the forced 429 was seen');

# 90 calls at the full rate take 4.7 s; the cooldown adds 2 s, and the
# rate starts again at half the limit
cmp_ok($elapsed, '>=', 90 / ($limit / 60) + 2 * 0.8,
       sprintf('the cooldown held the calls back (%.1f s)', $elapsed));
cmp_ok($elapsed, '<=', 40, 'and the rate recovered');

unlike($nginx->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in the log');

$nginx->stop;
done_testing();
