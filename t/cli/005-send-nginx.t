# qbsync send against the module itself: Debian's nginx with the gate
# (qbsync_verify) in front of a backend.  What the tool signs, the module
# lets through; another secret is refused; a second send is a duplicate.
# Skipped when the module has not been built (tools/build).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";

use Test::More;

use Qbsync::CliTest qw(run_cli write_file start_server stop_server
                       read_log);
use Qbsync::Nginx;
use Qbsync::Stripe;

my $module = $ENV{TEST_NGINX_LOAD_MODULES}
             // Qbsync::Nginx::top() . '/build/ngx_http_qbsync_module.so';
$ENV{TEST_NGINX_BINARY} //= '/usr/sbin/nginx';

plan skip_all => "no module at $module (tools/build)" unless -f $module;
plan skip_all => "no nginx at $ENV{TEST_NGINX_BINARY}"
    unless -x $ENV{TEST_NGINX_BINARY};

my $backend = start_server(sub {
    return { status => 200, headers => ['Content-Type: application/json'],
             body => '{"received":true}' };
});

my $nginx = Qbsync::Nginx->start(workers => 1, files => {
    'stripe.secrets' => "# rotation in progress\n\n"
                        . "  whsec_qbsync_cli_new  \nwhsec_qbsync_cli_old\n",
}, http => <<"_EOC_");
    qbsync_zone qbsync:1m;

    server {
        listen 127.0.0.1:__PORT__;

        location = /stripe/webhook {
            qbsync_verify on;
            qbsync_webhook_secret_file __PREFIX__/stripe.secrets;
            proxy_pass http://127.0.0.1:$backend->{port};
        }
    }
_EOC_

my $event = Qbsync::Stripe::event(id => 'evt_1QbsyncCliNginx000000001');
my $event_file = write_file('event.json', $event);
my $url = $nginx->url('/stripe/webhook');

# the tool signs with the first secret of a file in the module's format
my $new = write_file('new.secret', "whsec_qbsync_cli_new\n");
my $old = write_file('old.secret', "whsec_qbsync_cli_old\n");
my $other = write_file('other.secret', "whsec_qbsync_cli_other\n");

my $r = run_cli('send', '--url', $url, '--secret-file', $other, $event_file);
is $r->{rc}, 7, 'another secret: exit 7';
like $r->{out}, qr/^HTTP\/1.1 400 Bad Request\n.*"signature_mismatch"/s,
     'another secret: the module refuses it';

$r = run_cli('send', '--url', $url, '--secret-file', $new, $event_file);
is $r->{rc}, 0, 'signed by the tool: exit 0';
is $r->{out}, "HTTP/1.1 200 OK\n{\"received\":true}\n",
   'signed by the tool: the module passed it to the backend';

my @seen = read_log($backend);
is scalar @seen, 1, 'the backend saw one delivery';
is $seen[0]{body}, $event, 'the backend saw the event\'s bytes';

$r = run_cli('send', '--url', $url, '--secret-file', $old, $event_file);
is $r->{rc}, 0, 'the same event again, signed with the old secret: exit 0';
like $r->{out}, qr/^HTTP\/1.1 200 OK\n\{"duplicate":\s*true/,
     'the same event again: the module answers it as a duplicate';
is scalar(() = read_log($backend)), 1, 'the backend was not called again';

$r = run_cli('send', '--url', $url, '--secret-file', $new,
             '--timestamp', time - 3600, $event_file);
is $r->{rc}, 7, 'a timestamp an hour old: exit 7';
like $r->{out}, qr/"timestamp_out_of_tolerance"/,
     'a timestamp an hour old: refused by the module\'s tolerance';

$nginx->stop;
stop_server($backend);

done_testing;
