# The audit log and the event ring over what a Test::Nginx block cannot
# do: a buffered audit log flushed by its timer, then reopened after
# logrotate moved it (nginx -s reopen), and the ring started anew by a
# reload that changes events=, with a notice.
#
#   TEST_NGINX_BINARY=/usr/sbin/nginx \
#   TEST_NGINX_LOAD_MODULES=$PWD/build/ngx_http_qbsync_module.so \
#   prove t/load/audit.t

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use HTTP::Tiny;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep);

use Qbsync::Nginx;
use Qbsync::Sim;
use Qbsync::Webhook;

my $module = $ENV{TEST_NGINX_LOAD_MODULES}
             // Qbsync::Nginx::top() . '/build/ngx_http_qbsync_module.so';
$ENV{TEST_NGINX_BINARY} //= '/usr/sbin/nginx';

plan skip_all => "no module at $module (tools/build)" unless -f $module;

my $sim = Qbsync::Sim::start();
Qbsync::Sim::control(POST => '/_sim/reset', {});

my $nginx = Qbsync::Nginx->webhook(
    sim => $sim, zone => '4m events=50',
    http => "    qbsync_audit_log __PREFIX__/state/audit.jsonl "
            . "buffer=64k flush=1s;\n",
    server => "        location = /qbsync/events { qbsync_events; }\n");

my $http = HTTP::Tiny->new(timeout => 30);
my $audit = $nginx->dir . '/state/audit.jsonl';

sub deliver {
    my ($n) = @_;
    return $nginx->deliver(Qbsync::Webhook::event(
        type => 'product.created',
        object => Qbsync::Webhook::product(id => "prod_QbsyncAudit$n",
                                           name => "Audit $n")));
}

sub lines {
    my ($file) = @_;
    open my $in, '<', $file or return ();
    return map { JSON::PP->new->decode($_) } <$in>;
}

sub has_product {
    my ($id, @records) = @_;
    return scalar grep { defined $_->{product} && $_->{product} eq $id }
                       @records;
}

sub events {
    my $res = $http->get($nginx->url('/qbsync/events?limit=1000'));
    return @{ JSON::PP->new->decode($res->{content})->{events} };
}

# --- buffered: nothing until the flush timer --------------------------------

is deliver(1)->{status}, 200, 'a product synced';
my @now = lines($audit);
is scalar @now, 0, 'buffer=: the lines wait in the worker';
sleep 1.5;
@now = lines($audit);
ok scalar(@now) >= 3, 'flush=1s: written once the timer passed'
    or diag explain \@now;
is_deeply [ sort map { $_->{kind} } @now ],
          [ sort qw(sync_started token_refreshed item_created) ],
          'the events of one new product';

# --- logrotate: move the file, reopen, go on --------------------------------

rename $audit, "$audit.1" or die "rename: $!";
kill 'USR1', $nginx->master;
$nginx->wait_for(sub { -e $audit }, 'the audit log reopened');

is deliver(2)->{status}, 200, 'a second product';
sleep 1.5;
my @rotated = lines("$audit.1");
my @fresh = lines($audit);
is scalar @rotated, scalar @now, 'the rotated file has only what came before';
ok has_product('prod_QbsyncAudit2', @fresh),
   'the new file has the second product';
ok !has_product('prod_QbsyncAudit1', @fresh), 'and nothing of the first';

# --- the ring: kept by a reload, started anew by a changed events= ----------

my $before = () = events();
ok $before >= 5, "the ring holds $before events";

$nginx->reload;
is scalar(() = events()), $before, 'a reload keeps the ring';

my $conf = do { local $/; open my $in, '<', $nginx->dir . '/conf/nginx.conf'
                          or die $!; <$in> };
$conf =~ s/events=50/events=20/ or die 'no events= in the configuration';
$nginx->write('conf/nginx.conf', $conf);
$nginx->reload;

is scalar(() = events()), 0, 'events=20 instead of 50: the ring starts empty';
like $nginx->error_log,
     qr/qbsync_zone "qbsync": events=20 instead of 50, the event ring starts empty/,
     'with a notice';

for my $n (3 .. 30) {
    deliver($n)->{status} == 200 or die "delivery $n failed";
}
is scalar(() = events()), 20, 'the ring keeps its last 20';

# --- a graceful stop flushes the buffer -------------------------------------

is deliver(31)->{status}, 200, 'a last product';

# stop() would take the directory with it: the signal, and the wait
my $master = $nginx->master;
kill 'TERM', $master;
$nginx->wait_for(sub { !kill 0, $master }, 'the master gone');

ok has_product('prod_QbsyncAudit31', lines($audit)),
   'the worker wrote its buffer as it stopped'
    or diag join "\n", map { "$_->{kind} " . ($_->{product} // '-') }
                         lines($audit);
unlike $nginx->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alert';
$nginx->stop;

done_testing;
