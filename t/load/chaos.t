# The chaos run: 1,000 product events over 200 products, delivered by
# Stripe-like senders that redeliver every non-2xx with backoff, also send
# random duplicates and deliver out of order, while the simulator throttles
# as QuickBooks does and injects 500, 503, 429, resets (some after doing
# the work), stalls past the proxy timeout and slow answers at random; one
# nginx worker is killed with SIGKILL and nginx is reloaded midway.  When
# nothing is left to redeliver, QuickBooks must hold exactly the catalog
# the last event of each product describes, one item a product, and every
# event must have been applied, found stale, or ignored — or parked as a
# dead letter with its reason, when the simulator refused it with a
# validation fault, and then replayed by the operator once the faults stop.

use strict;
use warnings;

use List::Util qw(shuffle);
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use HTTP::Tiny;
use JSON::PP;
use Qbsync::Nginx;
use Qbsync::Sender;
use Qbsync::Sim;
use Qbsync::Stripe;
use Qbsync::Webhook;

my $products = 200;
my $versions = 5;
my $seed = $ENV{QBSYNC_CHAOS_SEED} // int(rand(1_000_000));
srand($seed);
diag("seed $seed (QBSYNC_CHAOS_SEED=$seed repeats this run's events and "
     . 'faults)');

my $sim = Qbsync::Sim::start();

# QuickBooks' limits with its minute scaled to 5 s: 6,000 calls a minute
Qbsync::Sim::control(POST => '/_sim/reset', {
    throttle => { enabled => JSON::PP::true, per_minute => 500,
                  per_second => 10, concurrent => 10, time_scale => 12 },
});

Qbsync::Sim::control(POST => '/_sim/faults', { seed => $seed, rules => [
    { path => '/v3/company/', probability => 0.12, kinds => [
        { weight => 3, status => 500 },
        { weight => 2, status => 503 },
        { weight => 1, status => 429 },
        { weight => 2, kind => 'reset' },
        { weight => 2, kind => 'reset', process => JSON::PP::true },
        { weight => 1, kind => 'timeout', delay_ms => 1500 },
        { weight => 1, kind => 'timeout', delay_ms => 1500,
          process => JSON::PP::true },
        { weight => 3, kind => 'delay', delay_ms => 100 },
        { weight => 1, status => 400 },
    ] },
] });

my $nginx = Qbsync::Nginx->webhook(sim => $sim, read_timeout => '1s',
                                   dead_letter => 1, directives => <<"_EOD_");
            qbsync_rate_limit 6000r/m cooldown=1s;
            qbsync_retry strategy=jitter attempts=3 base=100ms max=1s
                         budget=3s;
            qbsync_inflight_lease 8s;
_EOD_

# --- the events: five for each product, in the order Stripe made them ----

my (@events, %final, %kind);

for my $p (1 .. $products) {
    my $id = "prod_QbsyncChaos$p";
    my $deleted = ($p % 10 == 0);
    my $archived = ($p % 7 == 0);

    for my $v (1 .. $versions) {
        my $last = ($v == $versions);
        my %product = (id => $id, name => "Chaos product $p v$v",
                       description => "version $v");
        my $type = $v == 1 ? 'product.created' : 'product.updated';

        $product{active} = 0 if $archived && $v >= 3;
        $type = 'product.deleted' if $last && $deleted;

        my $event_id = sprintf 'evt_1QbsyncChaos%05d%02d', $p, $v;
        push @events, { product => $p, version => $v, id => $event_id,
            body => Qbsync::Webhook::event(
                id => $event_id, type => $type,
                created => 1700000000 + 10 * $v,
                object => Qbsync::Webhook::product(%product)) };

        # a deleted product has no active item: none at all when its
        # deletion came before any other event made one, else one made
        # inactive (under whichever name it had then)
        $final{$id} = ($deleted && $last)
                      ? { deleted => 1 }
                      : { Name => $product{name},
                          Active => $product{active} // 1 };
    }
}

# Stripe's order, roughly: products interleaved, and one event in ten
# swapped with a later one, so that an older event can come after a newer
# one of its product
my @sent;
my %next = map { $_ => 1 } 1 .. $products;

while (@sent < @events) {
    for my $p (shuffle(grep { $next{$_} <= $versions } keys %next)) {
        push @sent, $events[($p - 1) * $versions + $next{$p} - 1];
        $next{$p}++;
        last if rand() < 0.3;
    }
}

for my $i (0 .. $#sent - 1) {
    next unless rand() < 0.1;
    my $j = $i + 1 + int(rand(20));
    $j = $#sent if $j > $#sent;
    @sent[$i, $j] = @sent[$j, $i];
}

# --- the run: deliveries, a worker killed, a reload -----------------------

my $monkey = fork // die "fork: $!";

if ($monkey == 0) {
    sleep 6;
    my @workers = $nginx->workers;
    kill 'KILL', $workers[0];
    print STDERR "# killed worker $workers[0]\n";
    sleep 6;
    kill 'HUP', $nginx->master;
    print STDERR "# reloaded nginx\n";
    POSIX::_exit(0);
}

my $started = time;
my $result = Qbsync::Sender::deliver(url => $nginx->url('/stripe/qbsync'),
                                     events => [ map { $_->{body} } @sent ],
                                     senders => 16, pause => 0.3,
                                     deadline => 150, duplicates => 0.1);
my $elapsed = time - $started;
waitpid $monkey, 0;

# --- the operator replays the dead letters once the faults stop -----------

my (%parked, %replayed, $replays);

for my $id (keys %{ $result->{bodies} }) {
    $parked{$id} = 1 if $result->{bodies}{$id} =~ /"action":"dead_lettered"/;
}

open my $file, '<', $nginx->dir . '/state/dead-letter.jsonl';
my %in_file;
for my $line ($file ? <$file> : ()) {
    my $letter = decode_json($line);
    $in_file{ $letter->{dead_letter} } = $letter->{reason}
        if $letter->{dead_letter};
}

is(scalar(grep { !$in_file{$_} } keys %parked), 0,
   'every event answered dead_lettered is in the file with a reason');

Qbsync::Sim::control(POST => '/_sim/faults', { rules => [] });

my $http = HTTP::Tiny->new(timeout => 120);
my $replay = $http->post($nginx->url('/qbsync/dead-letter'));
my $replies = eval { decode_json($replay->{content}) } || { replayed => [] };

is($replay->{status}, 200, 'the replay of all dead letters is answered');
for my $reply (@{ $replies->{replayed} }) {
    $replayed{ $reply->{action} // "error $reply->{error}" }++;
}
is($replays = scalar(grep { ($_->{action} // '') eq 'dead_lettered'
                            || !$_->{action} } @{ $replies->{replayed} }), 0,
   'no letter is refused again once QuickBooks accepts')
    or diag($replay->{content});

my $listed = decode_json($http->get($nginx->url('/qbsync/dead-letter'))
                         ->{content});
is($listed->{count}, 0, 'no dead letter is left');

# --- what QuickBooks holds -------------------------------------------------

my $state = Qbsync::Sim::control(GET => '/_sim/state');
my %items;
my $duplicates = 0;

for my $item (@{ $state->{items} }) {
    next unless ($item->{Sku} // '') =~ /^prod_QbsyncChaos/;
    $duplicates++ if $items{ $item->{Sku} };
    $items{ $item->{Sku} } = $item;
}

my (%actions, @unanswered, @wrong);

for my $event (@events) {
    my $status = $result->{answers}{ $event->{id} } // 'never sent';
    if ($status != 200) {
        push @unanswered, "$event->{id}: $status";
        next;
    }
    my $answer = eval { decode_json($result->{bodies}{ $event->{id} }) } || {};
    $actions{ $answer->{action} // 'no action' }++;
}

for my $sku (sort keys %final) {
    my $item = $items{$sku};
    my $want = $final{$sku};
    if ($want->{deleted}) {
        push @wrong, "$sku: deleted, but its item is active"
            if $item && $item->{Active};
        next;
    }
    if (!$item) {
        push @wrong, "$sku: no item";
        next;
    }
    my $active = $item->{Active} ? 1 : 0;
    push @wrong, "$sku: \"$item->{Name}\" active $active, expected "
                 . "\"$want->{Name}\" active $want->{Active}"
        if $item->{Name} ne $want->{Name} || $active != $want->{Active};
}

my $faults = $state->{counts}{faults_by_kind} // {};
diag(sprintf "%d events, %d deliveries in %.1f s (%s); %d duplicates sent",
     scalar @events, $result->{deliveries}, $elapsed,
     join(', ', map { "$_: $result->{statuses}{$_}" }
                    sort keys %{ $result->{statuses} }),
     $result->{duplicates});
diag('actions: ' . join(', ', map { "$_ $actions{$_}" } sort keys %actions));
diag(scalar(keys %parked) . ' dead letters, replayed: '
     . join(', ', map { "$_ $replayed{$_}" } sort keys %replayed));
diag('faults injected: ' . join(', ', map { "$_ $faults->{$_}" }
                                         sort keys %$faults)
     . "; throttled $state->{throttle}{throttled}");

is(scalar @unanswered, 0, 'every event was answered 200 in the end')
    or diag(join "\n", @unanswered[0 .. ($#unanswered < 9 ? $#unanswered : 9)]);
is($duplicates, 0, 'no duplicate item');
my $gone = grep { $final{$_}{deleted} && !$items{$_} } keys %final;
is(scalar(keys %items) + $gone, $products,
   "one item for each product ($gone deleted before any item was made)");
is(scalar @wrong, 0, 'every item is what the last event of its product says')
    or diag(join "\n", @wrong[0 .. ($#wrong < 9 ? $#wrong : 9)]);

my $accounted = 0;
$accounted += $actions{$_} // 0
    for qw(created updated deactivated reactivated unchanged stale ignored
           dead_lettered);
is($accounted, scalar @events,
   'each event applied, stale, ignored or dead-lettered');

my $log = $nginx->error_log;
my @alerts = grep { !/exited on signal 9/ }
             $log =~ /^(.*\[(?:alert|crit|emerg)\].*)$/mg;
is(scalar @alerts, 0, 'no alert in the log but the killed worker')
    or diag(join "\n", @alerts[0 .. ($#alerts < 4 ? $#alerts : 4)]);
like($log, qr/exited on signal 9/, 'a worker was killed mid-run');

$nginx->stop;
done_testing();
