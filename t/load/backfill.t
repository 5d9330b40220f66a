# The batch location (qbsync_batch) under load, end to end against the
# QuickBooks simulator:
#
# 1. the CLI's backfill: a stand-in Stripe that pages (three pages, a 429
#    on one of them, archived products and products without a price) ->
#    build/qbsync backfill -> the batch location -> the simulator; every
#    product becomes one item, and a second backfill costs QuickBooks
#    nothing (skipped when build/qbsync is missing);
# 2. a client that goes away midway, (a) while QuickBooks is slow (a
#    batch call in flight), (b) while the limiter holds the next batch
#    call back: the run stops, nothing goes on being written, and a rerun
#    of the same body writes only what is left, without a duplicate;
# 3. 10,000 products in one request: the growth of the serving worker's
#    memory, measured from /proc and printed (diag), and a rerun that is
#    all unchanged.
#
#   TEST_NGINX_BINARY=/usr/sbin/nginx \
#   TEST_NGINX_LOAD_MODULES=$PWD/build/ngx_http_qbsync_module.so \
#   prove t/load/backfill.t

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../cli/lib";

use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use Qbsync::CliTest qw(run_cli write_file start_server stop_server
                       read_log stripe_catalog stripe_handler);
use Qbsync::Nginx;
use Qbsync::Sim;
use Qbsync::Webhook;

my $module = $ENV{TEST_NGINX_LOAD_MODULES}
             // Qbsync::Nginx::top() . '/build/ngx_http_qbsync_module.so';
$ENV{TEST_NGINX_BINARY} //= '/usr/sbin/nginx';

plan skip_all => "no module at $module (tools/build)" unless -f $module;
plan skip_all => "no nginx at $ENV{TEST_NGINX_BINARY}"
    unless -x $ENV{TEST_NGINX_BINARY};

my $json = JSON::PP->new->utf8->canonical;
my $http = HTTP::Tiny->new(timeout => 180, proxy => undef,
                           http_proxy => undef, https_proxy => undef);

my $sim = Qbsync::Sim::start();

# the stand-in servers are child processes: never leave one behind
my @servers;
END { stop_server($_) for grep { kill 0, $_->{pid} } @servers }

# --- helpers --------------------------------------------------------------

# a fresh company and a fresh nginx (the module's tokens start from the
# simulator's initial refresh token), with a generous rate limit unless
# limit => 'batch=...' says otherwise; a zone large enough for 10,000
# mapping records (8m is not)
sub fresh_nginx {
    my (%o) = @_;
    my $batch = $o{limit} // 'batch=10000r/m';
    Qbsync::Sim::control(POST => '/_sim/reset', {});
    return Qbsync::Nginx->webhook(
        sim => $sim, batch => 1, workers => 2, zone => $o{zone} // '64m',
        server => "        qbsync_rate_limit 100000r/m concurrency=10 "
                  . "$batch;\n");
}

sub state { Qbsync::Sim::control(GET => '/_sim/state') }

# the items of products whose id starts with $prefix, by Sku, and how
# many there are in all (a duplicate Sku counts twice there)
sub items {
    my ($prefix, $state) = @_;
    $state //= state();
    my (%by_sku, $total);
    for my $item (@{ $state->{items} }) {
        next unless ($item->{Sku} // '') =~ /^\Q$prefix\E/;
        $total++;
        $by_sku{ $item->{Sku} } = $item;
    }
    return (\%by_sku, $total // 0);
}

# calls that reached QuickBooks' API (not OAuth, not the control API)
sub api_calls {
    my ($state) = @_;
    my $by_path = $state->{counts}{by_path} // {};
    my $n = 0;
    $n += $by_path->{$_} for grep { m{^/v3/} } keys %$by_path;
    return $n;
}

# an NDJSON body of $n products, default_price expanded
sub products_body {
    my ($prefix, $n) = @_;
    my $body = '';
    for my $i (1 .. $n) {
        my $id = "$prefix$i";
        $body .= $json->encode(Qbsync::Webhook::product(
            id => $id, name => "$prefix product $i",
            description => "Backfill product number $i",
            default_price => Qbsync::Webhook::price(
                id => "price_$id", product => $id,
                unit_amount_decimal => '' . (100 * $i + 5)))) . "\n";
    }
    return $body;
}

# POST a body to the batch location: (status, [answer lines decoded])
sub post_batch {
    my ($nginx, $body) = @_;
    my $res = $http->request(POST => $nginx->url('/qbsync/batch'), {
        headers => { 'Content-Type' => 'application/x-ndjson' },
        content => $body });
    my @lines = map { my $l = eval { $json->decode($_) };
                      $l // { unparsed => $_ } }
                grep { length } split /\n/, $res->{content} // '';
    return ($res, \@lines);
}

sub summary_of {
    my ($lines) = @_;
    my ($summary) = grep { $_->{summary} } @$lines;
    return $summary // {};
}

sub proc_status {
    my ($pid) = @_;
    my %status;
    open my $in, '<', "/proc/$pid/status" or return {};
    while (my $line = <$in>) {
        $status{$1} = $2 if $line =~ /^(Vm\w+|Rss\w+):\s+(\d+) kB/;
    }
    return \%status;
}

sub wait_until {
    my ($done, $seconds) = @_;
    my $deadline = time + $seconds;
    until ($done->()) {
        return 0 if time > $deadline;
        sleep 0.1;
    }
    return 1;
}

sub no_alert {
    my ($nginx, $what) = @_;
    my @bad = $nginx->error_log =~ /^(.*\[(?:alert|crit|emerg)\].*)$/mg;
    is(scalar @bad, 0, "$what: no alert in the error log")
        or diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
}

# --- 1. the CLI end to end ------------------------------------------------

SKIP: {
    my $cli = $ENV{QBSYNC_CLI} // Qbsync::Nginx::top() . '/build/qbsync';
    skip "no qbsync tool at $cli (tools/build)", 1 unless -x $cli;

    my $nginx = fresh_nginx();
    my $key = 'sk_test_qbsyncBackfill';
    my $key_file = write_file('backfill-stripe.key', "$key\n");

    # 250 products: pages of 100, 100 and 50, a 429 on page 2; every
    # seventh is archived, every tenth has no default price
    my $catalog = stripe_catalog(250);
    my $stripe = start_server(stripe_handler($catalog, key => $key,
                                             throttle_page => 2));
    push @servers, $stripe;

    my @backfill = ('backfill', '--stripe-key-file', $key_file,
                    '--stripe-url', $stripe->{url},
                    '--to', $nginx->url('/qbsync/batch'),
                    '--header', 'X-Backfill: load-test',
                    '--batch-size', '100', { timeout => 90 });

    my $r = run_cli(@backfill);
    is($r->{rc}, 0, 'cli: backfill exits 0') or diag($r->{err});
    is($r->{out}, "summary: fetched 250, sent 250, requests 3, lines 250, "
                  . "created 250, updated 0, unchanged 0, failed 0\n",
       'cli: the summary line: 250 created in three requests');
    like($r->{err}, qr/^qbsync: Stripe answered 429 to page 2/m,
         'cli: the 429 on page 2 was waited out');

    my @pages = read_log($stripe);
    is_deeply([ map { $_->{status} } @pages ], [ 200, 429, 200, 200 ],
              'cli: Stripe gave three pages, one of them after a 429');

    my $state = state();
    my ($items, $total) = items('prod_Cli', $state);
    is($total, 250, 'cli: 250 items in QuickBooks');
    is(scalar keys %$items, 250, 'cli: one item a product (distinct Skus)');

    my (@missing, @wrong);
    for my $i (1 .. 250) {
        my $product = $catalog->[$i - 1];
        my $item = $items->{ $product->{id} };
        if (!$item) {
            push @missing, $product->{id};
            next;
        }
        my %want = (
            Name        => "Product $i",
            Description => "Le produit n\x{b0} $i",
            Active      => $i % 7 == 0 ? 'false' : 'true',
            # no default price: no UnitPrice sent, the simulator's 0
            UnitPrice   => $i % 10 == 0 ? '0' : "$i.99",
        );
        my %got = (
            Name        => $item->{Name} // '',
            Description => $item->{Description} // '',
            Active      => $item->{Active} ? 'true' : 'false',
            UnitPrice   => defined $item->{UnitPrice}
                           ? 0 + $item->{UnitPrice} : 'none',
        );
        for my $field (sort keys %want) {
            push @wrong, "$product->{id} $field: '$got{$field}', "
                         . "not '$want{$field}'"
                if $got{$field} ne $want{$field};
        }
    }
    is(scalar @missing, 0, 'cli: every product has its item (Sku = id)')
        or diag("missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]");
    is(scalar @wrong, 0, 'cli: names, descriptions, Active (35 archived '
                         . 'inactive) and UnitPrice as the products say')
        or diag(join "\n", @wrong[0 .. ($#wrong < 9 ? $#wrong : 9)]);
    is(scalar(grep { !$_->{Active} } values %$items), 35,
       'cli: the archived products are inactive items');

    # the second run: nothing to write, and nothing asked of QuickBooks
    my %before = map { $_ => $state->{counts}{$_} // 0 }
                 qw(create update batch query read);
    my $calls_before = api_calls($state);

    $r = run_cli(@backfill);
    is($r->{rc}, 0, 'cli rerun: exits 0') or diag($r->{err});
    is($r->{out}, "summary: fetched 250, sent 250, requests 3, lines 250, "
                  . "created 0, updated 0, unchanged 250, failed 0\n",
       'cli rerun: all 250 unchanged');

    $state = state();
    my %after = map { $_ => $state->{counts}{$_} // 0 }
                qw(create update batch query read);
    is_deeply(\%after, \%before,
              'cli rerun: no create, update, batch, query or read call');
    is(api_calls($state), $calls_before,
       'cli rerun: no call to QuickBooks at all');
    (undef, $total) = items('prod_Cli', $state);
    is($total, 250, 'cli rerun: still 250 items');

    no_alert($nginx, 'cli');
    stop_server($stripe);
    $nginx->stop;
}

# --- 2. a client that goes away midway, then a rerun ----------------------

# POST $body over a raw socket, read the head and the first answer line
# (the answer is chunked), then close the socket: (head, first line)
sub cut_after_first_line {
    my ($nginx, $body, $linger) = @_;

    my $socket = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                       PeerPort => $nginx->port,
                                       Proto => 'tcp', Timeout => 10)
        or die "connect: $!";
    binmode $socket;

    my $request = "POST /qbsync/batch HTTP/1.1\r\n"
                  . "Host: 127.0.0.1\r\n"
                  . "Content-Type: application/x-ndjson\r\n"
                  . "Content-Length: " . length($body) . "\r\n\r\n" . $body;
    my $off = 0;
    while ($off < length $request) {
        my $w = syswrite $socket, $request, 65536, $off;
        die "write: $!" unless defined $w;
        $off += $w;
    }

    my ($raw, $head, $decoded) = ('', undef, '');
    my $select = IO::Select->new($socket);
    my $deadline = time + 30;

    while (time < $deadline) {
        last if defined $head && $decoded =~ /\n/;
        next unless $select->can_read(0.5);
        my $got = sysread $socket, $raw, 65536, length $raw;
        last unless $got;
        if (!defined $head && (my $end = index $raw, "\r\n\r\n") >= 0) {
            $head = substr $raw, 0, $end;
            substr($raw, 0, $end + 4) = '';
        }
        next unless defined $head;
        # the chunks that have come whole
        while ($raw =~ /^([0-9a-fA-F]+)\r\n/) {
            my $size = hex $1;
            my $start = length($1) + 2;
            last if length $raw < $start + $size + 2;
            $decoded .= substr $raw, $start, $size;
            substr($raw, 0, $start + $size + 2) = '';
        }
    }

    # the next call under way before the client goes
    sleep $linger if $linger;
    close $socket;

    my ($first) = split /\n/, $decoded;
    return ($head // '', eval { $json->decode($first // '') } // {});
}

# the client goes away after the first answer line; the run must stop,
# and what QuickBooks holds then must stop growing: (items, batch calls)
sub cut_and_settle {
    my ($what, $nginx, $body, $prefix, $n, $quiet, $linger) = @_;

    my ($head, $line) = cut_after_first_line($nginx, $body, $linger);
    my $closed = time;

    like($head, qr{^HTTP/1\.1 200 }, "$what: the answer is 200");
    like($head, qr/^Transfer-Encoding: chunked\r?$/mi,
         "$what: the answer is chunked");
    is($line->{batch}, 1, "$what: the first answer line is batch 1's");
    is(($line->{created} // 0) + ($line->{unchanged} // 0), 30,
       "$what: 30 products in it");

    my $stopped;
    ok(wait_until(sub { ($stopped) = $nginx->error_log
                          =~ /qbsync: batch stopped at line (\d+): the client went away/;
                        defined $stopped }, 30),
       "$what: the log says the batch stopped as the client went away");
    diag(sprintf '%s: stopped at line %s, %.2f s after the close',
                 $what, $stopped // '?', time - $closed);

    # a call the simulator was carrying out ends; then nothing more comes
    my ($count, $batches) = (-1, -1);
    my $stable = wait_until(sub {
        my $state = state();
        my (undef, $total) = items($prefix, $state);
        my $now = $state->{counts}{batch} // 0;
        my $same = $total == $count && $now == $batches;
        ($count, $batches) = ($total, $now);
        sleep $quiet unless $same;
        return $same;
    }, 30);
    ok($stable, "$what: QuickBooks' items stop growing ($count items, "
                . "$batches batch calls)");

    sleep $quiet;
    my $state = state();
    my (undef, $later) = items($prefix, $state);
    is($later, $count, "$what: still $count items ${quiet}s later");
    is($state->{counts}{batch} // 0, $batches,
       "$what: and no batch call came since");
    cmp_ok($count, '<', $n, "$what: fewer than $n items were written");
    cmp_ok($count, '>=', 30, "$what: the first batch was written");

    return ($count, $batches);
}

# the same body again, to the end: its summary
sub rerun {
    my ($what, $nginx, $body, $prefix, $n) = @_;

    my $before = state()->{counts};
    my $started = time;
    my ($res, $lines) = post_batch($nginx, $body);
    my $elapsed = time - $started;
    my $summary = summary_of($lines);
    my $counts = state()->{counts};

    is($res->{status}, 200, "$what: 200");
    is($summary->{lines}, $n, "$what: the summary counts $n lines")
        or diag(substr $res->{content} // '', -600);
    is($summary->{failed}, 0, "$what: nothing failed")
        or diag(join "\n", map { $json->encode($_) }
                           grep { @{ $_->{errors} // [] } } @$lines);
    is(($counts->{create} // 0) - ($before->{create} // 0),
       $summary->{created} // 0, "$what: one create call a created product");
    is(($counts->{update} // 0) - ($before->{update} // 0),
       $summary->{updated} // 0, "$what: one update call an updated product");
    diag(sprintf '%s: created %s, updated %s, unchanged %s in %.1f s',
                 $what, (map { $summary->{$_} // '?' }
                         qw(created updated unchanged)), $elapsed);

    my ($items, $total) = items($prefix);
    is($total, $n, "$what: QuickBooks holds exactly $n items");
    is(scalar keys %$items, $n, "$what: $n distinct Skus, no duplicate");

    return $summary;
}

# 2a. QuickBooks slow: every batch call takes 400 ms.  The client goes
# away while a batch call is in flight: the module gives it up, but the
# simulator (as QuickBooks would) still carries it out.  Those items
# exist without the module's mapping record: the rerun finds them by Sku
# and writes them again, "updated" (docs/mapping.md, "Without a mapping
# record ... the answer is updated even if nothing changed").
{
    my $nginx = fresh_nginx();
    my ($n, $prefix) = (300, 'prod_Slow');
    my $body = products_body($prefix, $n);
    my $delay = 0.4;

    Qbsync::Sim::control(POST => '/_sim/faults', { rules => [
        { path => '/v3/company/9341453201/batch', kind => 'delay',
          delay_ms => 1000 * $delay, count => undef } ] });

    # the client goes 200 ms after the first line: batch 2 is in flight
    my ($count) = cut_and_settle('slow QuickBooks', $nginx, $body, $prefix,
                                 $n, 3 * $delay, $delay / 2);

    Qbsync::Sim::control(POST => '/_sim/faults', { rules => [] });
    my $summary = rerun('slow QuickBooks rerun', $nginx, $body, $prefix, $n);

    is($summary->{created}, $n - $count,
       'slow QuickBooks rerun: created exactly what QuickBooks lacked');
    is(($summary->{created} // 0) + ($summary->{updated} // 0)
       + ($summary->{unchanged} // 0), $n,
       "slow QuickBooks rerun: created + updated + unchanged = $n");
    cmp_ok($summary->{unchanged} // 0, '>=', 30,
           'slow QuickBooks rerun: the answered products are unchanged');
    cmp_ok($summary->{updated} // 0, '<=', 30,
           'slow QuickBooks rerun: updated at most the one batch the module '
           . 'gave up on');

    no_alert($nginx, 'slow QuickBooks');
    $nginx->stop;
}

# 2b. The limiter slow: a batch call every 3 s.  The client goes away
# while the run waits for its slot, with nothing in flight; after a reload
# with a generous limit (the zone, and its mapping records, survive it),
# the rerun writes only what is left: created + unchanged = 300.
{
    my $nginx = fresh_nginx(limit => 'batch=20r/m');
    my ($n, $prefix) = (300, 'prod_Paced');
    my $body = products_body($prefix, $n);

    # a slot every 3.2 s: 4 s of quiet shows the run gone
    my ($count) = cut_and_settle('slow limiter', $nginx, $body, $prefix,
                                 $n, 4);

    my $conf = do {
        open my $in, '<', $nginx->dir . '/conf/nginx.conf' or die "$!";
        local $/;
        <$in>;
    };
    $conf =~ s/batch=20r\/m/batch=10000r\/m/ or die "no batch=20r/m";
    $nginx->write('conf/nginx.conf', $conf);
    $nginx->reload;

    my $summary = rerun('slow limiter rerun', $nginx, $body, $prefix, $n);
    is(($summary->{created} // 0) + ($summary->{unchanged} // 0), $n,
       "slow limiter rerun: created + unchanged = $n");
    is($summary->{created}, $n - $count,
       'slow limiter rerun: created exactly what was left');
    is($summary->{updated}, 0, 'slow limiter rerun: nothing rewritten');

    no_alert($nginx, 'slow limiter');
    $nginx->stop;
}

# --- 3. 10,000 products in one request: memory ----------------------------

{
    my $nginx = fresh_nginx(zone => '64m');
    my $n = 10_000;
    my $prefix = 'prod_Mem';

    # a small warm-up, so that the token refresh and the first calls are
    # not in the figure
    my ($res, $lines) = post_batch($nginx, products_body('prod_Warm', 30));
    is(summary_of($lines)->{created}, 30, 'memory: the warm-up is created');

    my @workers = $nginx->workers;
    my %before = map { $_ => proc_status($_) } @workers;
    my $log_before = length $nginx->error_log;

    # a child samples the workers' anonymous memory while the request runs
    # (RSS also counts the zone's shared pages that the mapping records
    # touch, which are not the request's)
    pipe(my $from_sampler, my $to_sampler) or die "pipe: $!";
    my $sampler = fork // die "fork: $!";
    if ($sampler == 0) {
        close $from_sampler;
        my %peak;
        my $stop = 0;
        local $SIG{TERM} = sub { $stop = 1 };
        until ($stop) {
            for my $pid (@workers) {
                my $status = proc_status($pid);
                for my $field (qw(RssAnon RssShmem)) {
                    $peak{$pid}{$field} = $status->{$field}
                        if ($status->{$field} // 0)
                           > ($peak{$pid}{$field} // 0);
                }
            }
            sleep 0.02;
        }
        print $to_sampler map { join(' ', $_, $peak{$_}{RssAnon} // 0,
                                     $peak{$_}{RssShmem} // 0) . "\n" }
                          keys %peak;
        close $to_sampler;
        POSIX::_exit(0);
    }
    close $to_sampler;

    my $body = products_body($prefix, $n);
    my $calls_before = api_calls(state());
    my $started = time;
    ($res, $lines) = post_batch($nginx, $body);
    my $elapsed = time - $started;
    my %after = map { $_ => proc_status($_) } @workers;
    my $calls = api_calls(state()) - $calls_before;

    kill 'TERM', $sampler;
    my %peak;
    while (my $line = <$from_sampler>) {
        my ($pid, $anon, $shmem) = split ' ', $line;
        $peak{$pid} = { RssAnon => $anon, RssShmem => $shmem };
    }
    waitpid $sampler, 0;

    is($res->{status}, 200, "memory: $n products answered 200");
    my $summary = summary_of($lines);
    is($summary->{lines}, $n, "memory: the summary counts $n lines");
    is($summary->{created}, $n, "memory: created $n")
        or diag($json->encode($summary));
    is($summary->{failed}, 0, 'memory: none failed');
    is(scalar(grep { defined $_->{batch} } @$lines), int(($n + 29) / 30),
       'memory: one answer line a batch of 30');

    # the worker that served it: the one that logged the request's body
    # spooled to a file; else the one that grew most
    my ($server) = substr($nginx->error_log, $log_before)
                   =~ /^\S+ \S+ \[\w+\] (\d+)#\d+: \*\d+ .*POST \/qbsync\/batch/m;
    my $growth = sub {
        my ($pid, $field) = @_;
        return (($after{$pid}{$field} // 0) - ($before{$pid}{$field} // 0))
               / 1024;
    };
    ($server) = sort { $growth->($b, 'VmHWM') <=> $growth->($a, 'VmHWM') }
                @workers
        unless $server && $after{$server};

    for my $pid (@workers) {
        diag(sprintf 'memory: worker %d%s: VmRSS %.1f -> %.1f MB '
                     . '(%+.1f), VmHWM %.1f -> %.1f MB (%+.1f), '
                     . 'peak RssAnon %+.1f MB, RssShmem %+.1f MB',
                     $pid, $pid == $server ? ' (served it)' : '',
                     ($before{$pid}{VmRSS} // 0) / 1024,
                     ($after{$pid}{VmRSS} // 0) / 1024,
                     $growth->($pid, 'VmRSS'),
                     ($before{$pid}{VmHWM} // 0) / 1024,
                     ($after{$pid}{VmHWM} // 0) / 1024,
                     $growth->($pid, 'VmHWM'),
                     (($peak{$pid}{RssAnon} // 0)
                      - ($before{$pid}{RssAnon} // 0)) / 1024,
                     $growth->($pid, 'RssShmem'));
    }
    diag(sprintf 'memory: %d products (%.1f MB of NDJSON) in %.1f s, '
                 . '%d QuickBooks calls; peak RssAnon growth %.1f kB a call',
                 $n, length($body) / 1048576, $elapsed, $calls,
                 $calls ? (($peak{$server}{RssAnon} // 0)
                           - ($before{$server}{RssAnon} // 0)) / $calls : 0);

    cmp_ok($growth->($server, 'VmHWM'), '<', 64,
           'memory: the serving worker\'s peak RSS grew by less than 64 MB');
    cmp_ok($growth->($server, 'VmRSS'), '<', 64,
           'memory: and its RSS afterwards too');

    my ($items, $total) = items($prefix);
    is($total, $n, "memory: QuickBooks holds $n items");
    is(scalar keys %$items, $n, 'memory: one a product');

    # the rerun: all unchanged, no call
    $calls = api_calls(state());
    $started = time;
    ($res, $lines) = post_batch($nginx, $body);
    $elapsed = time - $started;
    is($res->{status}, 200, 'memory rerun: 200');
    $summary = summary_of($lines);
    is($summary->{lines}, $n, "memory rerun: $n lines");
    is($summary->{unchanged}, $n, "memory rerun: all $n unchanged")
        or diag($json->encode($summary));
    is(api_calls(state()), $calls, 'memory rerun: no call to QuickBooks');
    diag(sprintf 'memory rerun: answered in %.1f s', $elapsed);

    unlike($nginx->error_log, qr/qbsync_zone "qbsync" is full/,
           'memory: the zone held every mapping');
    no_alert($nginx, 'memory');
    $nginx->stop;
}

# the simulator stops at the end (Qbsync::Sim's END, which also shows a
# traceback of its own if it had one); nginx was stopped above
done_testing();
