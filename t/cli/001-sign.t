# qbsync sign: the Stripe-Signature value, as Stripe computes it and as
# the module verifies it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";

use Test::More;

use Qbsync::CliTest qw(run_cli write_file fixture);
use Qbsync::Stripe;

my $event = fixture('event.json');
is length $event, 861, 'the vector\'s event is byte for byte the fixture';

# --- the test vector of t/cli/fixtures/SOURCE.md --------------------------

my $secret_file = write_file('vector.secret', "whsec_test_secret\n");
my $other_file = write_file('other.secret', "whsec_other\n");

my $r = run_cli('sign', '--secret-file', $secret_file,
                '--timestamp', '1700000000', { stdin => $event });
is $r->{rc}, 0, 'sign: exit 0';
is $r->{out}, 't=1700000000,v1=f2ddb6ce222a8eecedaef08a0e2e8348'
              . "b096bc76a0e0a128f5b39b4f45fe87d0\n",
   'sign matches the test vector';
is $r->{err}, '', 'sign: nothing on stderr';

$r = run_cli('sign', '--secret-file', $other_file, '--timestamp=1700000000',
             { stdin => $event });
is $r->{out}, 't=1700000000,v1=87ff8184f2a62ca1438a370e296a79bf'
              . "f13fd3a914a137d1094146bde606ccd1\n",
   'sign matches the vector\'s second secret (--option=value form)';

# --- what the module accepts ----------------------------------------------

# the module's secret file format: comments, blank lines, spaces, CRLF; a
# second secret (a rotation) is not used to sign
my $rotation = write_file('rotation.secret',
                          "# rotated on 2026-01-01\r\n\r\n"
                          . "   $Qbsync::Stripe::Secret  \r\n"
                          . "whsec_previous_secret\n");

my $body = Qbsync::Stripe::event(id => 'evt_1QbsyncCliSign0000000001');

$r = run_cli('sign', '--secret-file', $rotation, '--timestamp', '1712345678',
             { stdin => $body });
is $r->{out}, Qbsync::Stripe::signature($body, t => 1712345678) . "\n",
   'sign: the first secret of a module-format file signs, as '
   . 'Qbsync::Stripe::signature() does';

# a body with no final newline and bytes outside ASCII is signed as is
my $odd = "{\"id\":\"evt_1\",\"name\":\"caf\xc3\xa9\"}\n\n";
$r = run_cli('sign', '--secret-file', $rotation, '--timestamp', '1',
             { stdin => $odd });
is $r->{out}, Qbsync::Stripe::signature($odd, t => 1) . "\n",
   'sign: the body\'s bytes are signed exactly, trailing newlines included';

# the timestamp defaults to now
my $before = time;
$r = run_cli('sign', '--secret-file', $rotation, { stdin => $body });
my ($t) = $r->{out} =~ /^t=(\d+),v1=[0-9a-f]{64}\n\z/;
ok defined $t && $t >= $before && $t <= time + 1,
   'sign: without --timestamp, t is now';
is $r->{out}, Qbsync::Stripe::signature($body, t => $t) . "\n",
   'sign: ... and v1 is computed for that t';

# --- help and errors ------------------------------------------------------

$r = run_cli('sign', '--help');
is $r->{rc}, 0, 'sign --help: exit 0';
like $r->{out}, qr/^usage: qbsync sign --secret-file FILE/, 'sign --help: usage';
like $r->{out}, qr/exit codes:/, 'sign --help: lists the exit codes';

my @errors = (
    [ 'no --secret-file', [ 'sign' ], 2, qr/--secret-file is required/ ],
    [ 'unknown option', [ 'sign', '--secret-file', $secret_file,
                          '--secret=whsec_test_secret' ],
      2, qr/unknown option --secret \(see/ ],
    [ 'a value missing', [ 'sign', '--secret-file' ], 2,
      qr/--secret-file needs a value/ ],
    [ 'a bad timestamp', [ 'sign', '--secret-file', $secret_file,
                           '--timestamp', '17e8' ], 2,
      qr/--timestamp must be 1 to 18 decimal digits/ ],
    [ 'a file argument', [ 'sign', '--secret-file', $secret_file,
                           'event.json' ], 2,
      qr/unexpected argument: the event is read from standard input/ ],
    [ 'a missing secret file', [ 'sign', '--secret-file',
                                 '/nonexistent/stripe.secrets' ], 6,
      qr{cannot open the webhook secret file /nonexistent/stripe.secrets: } ],
    [ 'a secret file of comments only',
      [ 'sign', '--secret-file', write_file('empty.secret', "# none\n\n") ],
      6, qr/holds no secret/ ],
    [ 'an unknown command', [ 'verify' ], 2, qr/unknown command "verify"/ ],
    [ 'a secret as the command', [ 'whsec_test_secret' ], 2,
      qr/^qbsync: unknown command: sign, send or backfill/ ],
    [ 'a secret as an argument', [ 'sign', '--secret-file', $secret_file,
                                   'whsec_test_secret' ], 2,
      qr/unexpected argument: the event is read from standard input/ ],
);

for my $case (@errors) {
    my ($name, $args, $rc, $message) = @$case;

    $r = run_cli(@$args, { stdin => $event });
    is $r->{rc}, $rc, "$name: exit $rc";
    like $r->{err}, $message, "$name: says why";
    is scalar(() = $r->{err} =~ /\n/g), 1, "$name: in one line";
    is $r->{out}, '', "$name: nothing on stdout";
    unlike $r->{err}, qr/whsec_/, "$name: no secret in the message";
}

$r = run_cli();
is $r->{rc}, 2, 'no command: exit 2, with the usage';
like $r->{err}, qr/usage: qbsync COMMAND/, 'no command: the usage on stderr';

# a secret that every user may read is said so, and still used
my $open = write_file('open.secret', "whsec_test_secret\n", 0644);
$r = run_cli('sign', '--secret-file', $open, '--timestamp', '1700000000',
             { stdin => $event });
is $r->{rc}, 0, 'a world-readable secret file: still exit 0';
like $r->{err}, qr/^qbsync: warning: .* is readable by every user\n\z/,
     'a world-readable secret file: one warning';

done_testing;
