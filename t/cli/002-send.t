# qbsync send: an event signed as Stripe signs it, POSTed to a location
# that verifies it; the answer printed, the exit code telling 2xx apart.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";

use Test::More;

use Qbsync::CliTest qw(run_cli write_file start_server stop_server read_log
                       closed_port fixture);
use Qbsync::Stripe;

my $secret = $Qbsync::Stripe::Secret;
my $secret_file = write_file('webhook.secret', "# the endpoint's\n$secret\n");

# A webhook location: it checks the signature as the module does (the
# HMAC of "t.body" with the secret) and answers as the gate would.
my $hook = start_server(sub {
    my ($req) = @_;
    my $header = $req->{headers}{'stripe-signature'} // '';
    my ($t) = $header =~ /^t=(\d+),/;

    if ($req->{path} eq '/busy') {
        return { status => 503, headers => ['Retry-After: 5'],
                 body => '{"error":"quickbooks_unavailable"}' };
    }

    if (!defined $t
        || $header ne Qbsync::Stripe::signature($req->{body}, t => $t,
                                                secret => $secret))
    {
        return { status => 400, headers => ['Content-Type: application/json'],
                 body => '{"error":"signature_mismatch","message":'
                         . '"no signature matches"}' };
    }

    return { status => 200, headers => ['Content-Type: application/json'],
             body => '{"synced":true}' };
});

my $event = Qbsync::Stripe::event(id => 'evt_1QbsyncCliSend0000000001');
my $event_file = write_file('event.json', $event);

# --- a signed delivery ----------------------------------------------------

my $before = time;
my $r = run_cli('send', '--url', "$hook->{url}/stripe/qbsync",
                '--secret-file', $secret_file,
                '--header', 'X-Delivery: cli-test', $event_file);

is $r->{rc}, 0, 'send: exit 0 on a 2xx';
is $r->{out}, "HTTP/1.1 200 OK\n{\"synced\":true}\n",
   'send: the status line, then the body';
is $r->{err}, '', 'send: nothing on stderr';

my ($req) = read_log($hook);
is $req->{method}, 'POST', 'send: a POST';
is $req->{path}, '/stripe/qbsync', 'send: to the URL given';
is $req->{body}, $event, 'send: the event\'s bytes, unchanged';
is $req->{headers}{'content-type'}, 'application/json',
   'send: Content-Type: application/json';
is $req->{headers}{'x-delivery'}, 'cli-test', 'send: --header is sent';
ok !exists $req->{headers}{expect}, 'send: no Expect: 100-continue';
my ($t) = ($req->{headers}{'stripe-signature'} // '') =~ /^t=(\d+),v1=/;
ok defined $t && $t >= $before && $t <= time + 1,
   'send: signed now, so that the module\'s tolerance accepts it';
is $req->{headers}{'stripe-signature'},
   Qbsync::Stripe::signature($event, t => $t),
   'send: the signature the module verifies';

# the event on standard input, and a fixed timestamp
$r = run_cli('send', '--url', "$hook->{url}/stripe/qbsync",
             '--secret-file', $secret_file, '--timestamp', '1700000000', '-',
             { stdin => fixture('event.json') });
is $r->{rc}, 0, 'send -: exit 0';
my $last = (read_log($hook))[-1];
is $last->{body}, fixture('event.json'), 'send -: the event from stdin';
is $last->{headers}{'stripe-signature'},
   Qbsync::Stripe::signature(fixture('event.json'), t => 1700000000),
   'send --timestamp: signed with it';

# --- answers that are not 2xx ---------------------------------------------

my $wrong = write_file('wrong.secret', "whsec_not_the_endpoints\n");
$r = run_cli('send', '--url', "$hook->{url}/stripe/qbsync",
             '--secret-file', $wrong, $event_file);
is $r->{rc}, 7, 'send, another secret: exit 7';
is $r->{out}, "HTTP/1.1 400 Bad Request\n"
              . "{\"error\":\"signature_mismatch\",\"message\":"
              . "\"no signature matches\"}\n",
   'send, another secret: the answer is printed all the same';
like $r->{err}, qr{^qbsync: http://127\.0\.0\.1:\d+/stripe/qbsync answered 400\n\z},
     'send, another secret: one line on stderr';

$r = run_cli('send', '--url', "$hook->{url}/busy",
             '--secret-file', $secret_file, $event_file);
is $r->{rc}, 7, 'send, a 503: exit 7';
like $r->{out}, qr/^HTTP\/1.1 503 Service Unavailable\n/,
     'send, a 503: its status line';

stop_server($hook);

# --- errors ---------------------------------------------------------------

my $port = closed_port();
my @errors = (
    [ 'an unreachable URL',
      [ '--url', "http://127.0.0.1:$port/stripe", '--secret-file',
        $secret_file, $event_file ],
      3, qr{^qbsync: cannot reach the webhook location at http://127\.0\.0\.1:$port/stripe: } ],
    [ 'a missing event file',
      [ '--url', 'http://127.0.0.1:1/', '--secret-file', $secret_file,
        '/nonexistent/event.json' ],
      6, qr{cannot open the event file /nonexistent/event\.json} ],
    [ 'a missing secret file',
      [ '--url', 'http://127.0.0.1:1/', '--secret-file', '/nonexistent/s',
        $event_file ],
      6, qr{cannot open the webhook secret file /nonexistent/s} ],
    [ 'no --url', [ '--secret-file', $secret_file, $event_file ], 2,
      qr/--url and --secret-file are required/ ],
    [ 'no event file', [ '--url', 'http://127.0.0.1:1/', '--secret-file',
                         $secret_file ], 2, qr/give one event file/ ],
    [ 'a URL that is not http', [ '--url', 'ftp://user:pw@example.com/x',
                                  '--secret-file', $secret_file,
                                  $event_file ],
      2, qr/--url is not an http:\/\/ or https:\/\/ URL/ ],
    [ 'a header that is not one', [ '--url', 'http://127.0.0.1:1/',
                                    '--secret-file', $secret_file,
                                    '--header', 'Authorization Basic c2VjcmV0',
                                    $event_file ],
      2, qr/a --header is not of the form 'Name: value'/ ],
);

for my $case (@errors) {
    my ($name, $args, $rc, $message) = @$case;

    $r = run_cli('send', @$args);
    is $r->{rc}, $rc, "send, $name: exit $rc";
    like $r->{err}, $message, "send, $name: says why";
    is scalar(() = $r->{err} =~ /\n/g), 1, "send, $name: in one line";
    unlike $r->{err}, qr/whsec_|c2VjcmV0|pw@/,
           "send, $name: no secret in the message";
}

$r = run_cli('send', '--help');
is $r->{rc}, 0, 'send --help: exit 0';
like $r->{out}, qr/^usage: qbsync send --url URL --secret-file FILE/,
     'send --help: usage';
like $r->{out}, qr/exit codes:/, 'send --help: the exit codes';

done_testing;
