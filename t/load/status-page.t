# qbsync_status for a browser: with Accept: text/html, one self-contained
# page (no script, style sheet, image or font from elsewhere) with the
# health, the deliveries, inline SVG charts of the last hour and the last
# events; rendered in Debian's headless Chromium, its DOM read for the
# headings and a screenshot saved (build/status-page.png).
#
#   TEST_NGINX_BINARY=/usr/sbin/nginx \
#   TEST_NGINX_LOAD_MODULES=$PWD/build/ngx_http_qbsync_module.so \
#   prove t/load/status-page.t

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use File::Temp ();
use HTTP::Tiny;
use Test::More;

use Qbsync::Nginx;
use Qbsync::Sim;
use Qbsync::Webhook;

my $module = $ENV{TEST_NGINX_LOAD_MODULES}
             // Qbsync::Nginx::top() . '/build/ngx_http_qbsync_module.so';
$ENV{TEST_NGINX_BINARY} //= '/usr/sbin/nginx';

plan skip_all => "no module at $module (tools/build)" unless -f $module;

my $chromium = $ENV{QBSYNC_CHROMIUM} // '/usr/bin/chromium';

my $sim = Qbsync::Sim::start();
Qbsync::Sim::control(POST => '/_sim/reset', {});

my $nginx = Qbsync::Nginx->webhook(
    sim => $sim,
    server => "        location = /qbsync/status { qbsync_status; }\n");

for my $n (1 .. 3) {
    my $res = $nginx->deliver(Qbsync::Webhook::event(
        type => 'product.created',
        object => Qbsync::Webhook::product(id => "prod_QbsyncPage$n",
                                           name => "Page <$n> & co")));
    $res->{status} == 200 or die "delivery $n: $res->{status}";
}

my $http = HTTP::Tiny->new(timeout => 30);

my $page = $http->get($nginx->url('/qbsync/status'),
                      { headers => { Accept => 'text/html,*/*;q=0.8' } });
is $page->{status}, 200, 'the status page';
like $page->{headers}{'content-type'}, qr{^text/html; charset=utf-8$},
     'as HTML';

my $html = $page->{content};
like $html, qr{^<!DOCTYPE html>}, 'a whole document';
like $html, qr{<h2>Health: <span class="ok">ok</span></h2>}, 'the health first';
like $html, qr{<td>created</td><td>3</td>}, 'the deliveries by outcome';
is scalar(() = $html =~ /<svg /g), 2, 'two inline SVG charts';
is scalar(() = $html =~ /<circle /g), 3, 'a dot a delivery in the latency chart';
like $html, qr{<td>prod_QbsyncPage3</td>}, 'the last events';
unlike $html, qr{<script|<link|<img|\@import|url\(|src=}i,
       'nothing loaded from elsewhere';

my $json = $http->get($nginx->url('/qbsync/status'));
like $json->{headers}{'content-type'}, qr{^application/json},
     'without text/html: JSON';

SKIP: {
    skip "no Chromium at $chromium (tools/deps test installs it)", 4
        unless -x $chromium;

    my $profile = File::Temp::tempdir('qbsync-chromium-XXXXXX', TMPDIR => 1,
                                      CLEANUP => 1);
    my $shot = Qbsync::Nginx::top() . '/build/status-page.png';
    unlink $shot;

    # the flags Debian's Chromium needs here: as root, no GPU, no network
    # of its own
    my @flags = ('--headless', '--no-sandbox', '--disable-gpu',
                 '--disable-quic', '--no-first-run',
                 '--disable-background-networking',
                 '--disable-component-update', '--disable-sync',
                 "--user-data-dir=$profile");

    my $dom = qx{$chromium @flags --dump-dom '${\ $nginx->url('/qbsync/status')}' 2>/dev/null};
    like $dom, qr{<h1>qbsync status</h1>}, 'Chromium renders it: the title';
    like $dom, qr{<h2>Events per minute, last hour</h2>.*<h2>Sync latency, last hour</h2>.*<h2>Last events</h2>}s,
         'and the headings, in order';

    system("$chromium @flags --window-size=1024,1600 --screenshot=$shot "
           . "'${\ $nginx->url('/qbsync/status')}' >/dev/null 2>&1");
    ok -s $shot, 'a screenshot';
    open my $in, '<:raw', $shot or die "$shot: $!";
    read $in, my $magic, 8;
    is $magic, "\x89PNG\r\n\x1a\n", "a PNG: $shot";
    diag "screenshot: $shot (" . (-s $shot) . " bytes)";
}

$nginx->stop;

done_testing;
