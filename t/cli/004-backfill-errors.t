# qbsync backfill when things go wrong: failed products, Stripe refusing
# the key or answering nonsense, a batch location that refuses or babbles,
# hosts that cannot be reached, bad arguments.  Each says why in one line,
# with its own exit code, and never prints the key.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";

use Test::More;

use Qbsync::CliTest qw(run_cli write_file start_server stop_server read_log
                       closed_port stripe_catalog stripe_handler
                       batch_handler);

my $key = 'sk_test_qbsyncCliErrors';
my $key_file = write_file('stripe.key', "$key\n");
my $products = stripe_catalog(250);

sub backfill {
    my ($stripe, $batch, @more) = @_;
    return run_cli('backfill', '--stripe-key-file', $key_file,
                   '--stripe-url', ref $stripe ? $stripe->{url} : $stripe,
                   '--to', ref $batch ? "$batch->{url}/qbsync/batch" : $batch,
                   @more);
}

sub no_key {
    my ($r, $name) = @_;
    unlike $r->{out} . $r->{err}, qr/\Q$key\E|sk_test_\*/,
           "$name: the key is never printed";
}

sub lines_sent {
    my ($batch) = @_;
    return [ map { scalar(() = $_->{body} =~ /\n/g) } read_log($batch) ];
}

# --- products that fail ----------------------------------------------------

{
    my $stripe = start_server(stripe_handler($products, key => $key));
    my $batch = start_server(batch_handler(fail => {
        prod_Cli0007 => [ 'invalid_product', "name: must be a string\e[2J" ],
        prod_Cli0139 => [ 'quickbooks_fault', 'Duplicate Name Exists (6240)' ],
        prod_Cli0201 => [ 'invalid_line', 'line 1: not JSON', 1 ],
    }));

    my $r = backfill($stripe, $batch, '--batch-size', '100');
    is $r->{rc}, 1, 'failed products: exit 1';
    is $r->{out},
       "error: request 1, line 7, prod_Cli0007: invalid_product: "
       . "name: must be a string?[2J\n"
       . "error: request 2, line 39, prod_Cli0139: quickbooks_fault: "
       . "Duplicate Name Exists (6240)\n"
       . "error: request 3, line 1: invalid_line: line 1: not JSON\n"
       . "summary: fetched 250, sent 250, requests 3, lines 250, "
       . "created 247, updated 0, unchanged 0, failed 3\n",
       'failed products: each error as it comes (no terminal controls), '
       . 'then the summary';
    like $r->{err}, qr/^qbsync: 3 products failed: see the errors above\n\z/m,
         'failed products: said last on stderr';
    is_deeply lines_sent($batch), [ 100, 100, 50 ],
              'failed products: the other requests went on';
    no_key($r, 'failed products');

    stop_server($stripe);
    stop_server($batch);
}

# --- Stripe ---------------------------------------------------------------

{
    my $batch = start_server(batch_handler());
    my $stripe = start_server(stripe_handler($products,
                                             key => 'sk_test_another'));

    my $r = backfill($stripe, $batch);
    is $r->{rc}, 4, 'Stripe 401: exit 4';
    like $r->{err}, qr/^qbsync: Stripe refused the API key of --stripe-key-file \(401 invalid key\)$/m,
         'Stripe 401: one clear line';
    is $r->{out}, "summary: fetched 0, sent 0, requests 0, lines 0, "
                  . "created 0, updated 0, unchanged 0, failed 0\n",
       'Stripe 401: the summary, empty';
    is_deeply lines_sent($batch), [], 'Stripe 401: nothing sent';
    no_key($r, 'Stripe 401');
    stop_server($stripe);

    # the key revoked midway: what was fetched is still synced
    $stripe = start_server(stripe_handler($products, key => $key,
                                          revoke_after => 1));
    $r = backfill($stripe, $batch);
    is $r->{rc}, 4, 'Stripe 401 on page 2: exit 4';
    is_deeply lines_sent($batch), [ 100 ],
              'Stripe 401 on page 2: page 1 was still sent';
    like $r->{out}, qr/^summary: fetched 100, sent 100, requests 1, lines 100, created 100, /,
         'Stripe 401 on page 2: and summarised';
    stop_server($stripe);

    $stripe = start_server(stripe_handler($products, answer => {
        status => 403, headers => ['Content-Type: application/json'],
        body => '{"error":{"type":"invalid_request_error","message":'
                . '"The provided key \'rk_test_****Cli\' does not have the '
                . 'required permissions"}}' }));
    $r = backfill($stripe, $batch);
    is $r->{rc}, 4, 'Stripe 403 (a restricted key): exit 4';
    like $r->{err}, qr/^qbsync: Stripe refused the API key of --stripe-key-file \(403 no read access to products\)$/m,
         'Stripe 403: one clear line, without Stripe\'s (key-quoting) message';
    stop_server($stripe);

    my @answers = (
        [ 'Stripe answers HTML', 5,
          { status => 200, headers => ['Content-Type: text/html'],
            body => '<html><body>maintenance</body></html>' },
          qr{^qbsync: Stripe's answer from http://127\.0\.0\.1:\d+/v1/products is not a product list: it is not JSON$}m ],
        [ 'Stripe answers JSON that is no list', 5,
          { status => 200, headers => [],
            body => '{"object":"product","id":"prod_1"}' },
          qr/is not a product list: it has no "data" array$/m ],
        [ 'Stripe answers a list cut short', 5,
          { status => 200, headers => [],
            body => '{"object":"list","data":[{"id":"prod_1"}' },
          qr/is not a product list: it is not JSON$/m ],
        [ 'Stripe answers 400', 7,
          { status => 400, headers => [],
            body => '{"error":{"type":"invalid_request_error","code":'
                    . '"parameter_unknown","message":"Received unknown '
                    . 'parameter: expand[0]"}}' },
          qr{^qbsync: Stripe answered 400 to http://127\.0\.0\.1:\d+/v1/products: invalid_request_error parameter_unknown: Received unknown parameter: expand\[0\]$}m ],
    );

    for my $case (@answers) {
        my ($name, $rc, $answer, $message) = @$case;
        $stripe = start_server(stripe_handler($products, answer => $answer));
        $r = backfill($stripe, $batch);
        is $r->{rc}, $rc, "$name: exit $rc";
        like $r->{err}, $message, "$name: says why";
        stop_server($stripe);
    }

    is_deeply lines_sent($batch), [ 100 ],
              'Stripe\'s refusals sent nothing more';

    # a 500 is tried again after a second, and the backfill goes on
    $stripe = start_server(stripe_handler($products, key => $key,
                                          fail_page => 1));
    $r = backfill($stripe, $batch);
    is $r->{rc}, 0, 'Stripe 500 once: tried again, exit 0';
    like $r->{err}, qr/^qbsync: Stripe answered 500 to page 1: trying again in 1 s \(try 2 of 6\)$/m,
         'Stripe 500 once: the wait is said';
    like $r->{out}, qr/^summary: fetched 250, sent 250, requests 1, /,
         'Stripe 500 once: everything sent';
    stop_server($stripe);

    my $port = closed_port();
    $r = backfill("http://127.0.0.1:$port", $batch);
    is $r->{rc}, 3, 'Stripe unreachable: exit 3';
    like $r->{err}, qr{^qbsync: cannot reach Stripe at http://127\.0\.0\.1:$port/v1/products: .*$}m,
         'Stripe unreachable: one clear line';
    no_key($r, 'Stripe unreachable');

    stop_server($batch);
}

# --- the batch location ---------------------------------------------------

{
    my $stripe = start_server(stripe_handler($products, key => $key));
    my $port = closed_port();

    my $r = backfill($stripe, "http://127.0.0.1:$port/qbsync/batch");
    is $r->{rc}, 3, 'batch location unreachable: exit 3';
    like $r->{err}, qr{^qbsync: cannot reach the batch location \(request 1\) at http://127\.0\.0\.1:$port/qbsync/batch: .*$}m,
         'batch location unreachable: one clear line';
    like $r->{out}, qr/^summary: fetched \d+, sent \d+, requests 1, lines 0, /,
         'batch location unreachable: the summary';

    my $batch = start_server(batch_handler(auth => 'Authorization: Basic '
                                                   . 'cWJzeW5jOmNsaQ=='));
    $r = backfill($stripe, $batch, '--batch-size', '100',
                  '--header', 'Authorization: Basic d3Jvbmc6d3Jvbmc=');
    is $r->{rc}, 7, 'batch location 401: exit 7';
    like $r->{err}, qr{^qbsync: http://127\.0\.0\.1:\d+/qbsync/batch answered 401 to request 1: unauthorized: no$}m,
         'batch location 401: one clear line with its error';
    is_deeply lines_sent($batch), [ 100 ],
              'batch location 401: the first refusal stops the backfill';
    unlike $r->{out} . $r->{err}, qr/d3Jvbmc6d3Jvbmc/,
           'batch location 401: the credentials are not printed';
    stop_server($batch);

    my @answers = (
        [ 'an answer that is not NDJSON', 5,
          { status => 200, headers => ['Content-Type: text/html'],
            body => "<html>hello</html>\n" },
          qr/^qbsync: the answer of http:\S+ to request 1 is not the batch location's: a line is not JSON$/m ],
        [ 'an answer without a summary', 5,
          { status => 200, headers => [],
            chunks => [ '{"batch":1,"created":30,"updated":0,'
                        . '"unchanged":0,"failed":0,"errors":[]}' . "\n" ] },
          qr/to request 1 is not the batch location's: it ended without a summary line$/m ],
        [ 'an answer cut midway', 3,
          { status => 200, headers => [], cut => 1,
            chunks => [ '{"batch":1,"created":30,"updated":0,' ] },
          qr/^qbsync: cannot reach the batch location \(request 1\) at http:\S+: /m ],
        [ 'a summary that does not count what was sent', 5,
          { status => 200, headers => [],
            body => '{"summary":true,"lines":1,"created":1,"updated":0,'
                    . '"unchanged":0,"failed":0}' . "\n" },
          qr/counted 1 lines in request 1, 250 were sent$/m ],
        [ 'a 415', 7,
          { status => 415, headers => [],
            body => '{"error":"unsupported_media_type","message":"want '
                    . 'NDJSON"}' },
          qr/answered 415 to request 1: unsupported_media_type: want NDJSON$/m ],
    );

    for my $case (@answers) {
        my ($name, $rc, $answer, $message) = @$case;
        $batch = start_server(batch_handler(answer => $answer));
        $r = backfill($stripe, $batch);
        is $r->{rc}, $rc, "$name: exit $rc";
        like $r->{err}, $message, "$name: says why";
        no_key($r, $name);
        stop_server($batch);
    }

    stop_server($stripe);
}

# --- arguments ------------------------------------------------------------

my $url = 'http://127.0.0.1:1';
my @usage = (
    [ 'no --to', [ '--stripe-key-file', $key_file ], 2,
      qr/--stripe-key-file and --to are required/ ],
    [ 'no key file', [ '--to', $url ], 2,
      qr/--stripe-key-file and --to are required/ ],
    [ '--batch-size 0', [ '--stripe-key-file', $key_file, '--to', $url,
                          '--batch-size', '0' ], 2,
      qr/--batch-size must be a number from 1 to 1000000/ ],
    [ '--batch-size 2k', [ '--stripe-key-file', $key_file, '--to', $url,
                           '--batch-size', '2k' ], 2,
      qr/--batch-size must be a number/ ],
    [ '--to that is not a URL', [ '--stripe-key-file', $key_file,
                                  '--to', 'localhost/qbsync/batch' ], 2,
      qr/--to is not an http:\/\/ or https:\/\/ URL/ ],
    [ '--stripe-url in clear text', [ '--stripe-key-file', $key_file,
                                      '--to', $url, '--stripe-url',
                                      'http://api.stripe.com' ], 2,
      qr/--stripe-url must be https:\/\/ unless it is this machine/ ],
    [ 'an argument too many', [ '--stripe-key-file', $key_file, '--to', $url,
                                'products.json' ], 2,
      qr/unexpected argument: every option is named/ ],
    [ 'an abbreviated option', [ '--stripe-key', $key, '--to', $url ], 2,
      qr/unknown option --stripe-key \(see qbsync backfill --help\)/ ],
    [ 'a missing key file', [ '--stripe-key-file', '/nonexistent/key',
                              '--to', $url ], 6,
      qr{cannot open the Stripe key file /nonexistent/key: } ],
    [ 'an empty key file', [ '--stripe-key-file',
                             write_file('empty.key', "\n# no key\n"),
                             '--to', $url ], 6,
      qr/the Stripe key file \S+ holds no secret/ ],
    [ 'a missing header file', [ '--stripe-key-file', $key_file,
                                 '--to', $url, '--header', '@/nonexistent/h' ],
      6, qr{cannot open the header file /nonexistent/h} ],
);

for my $case (@usage) {
    my ($name, $args, $rc, $message) = @$case;
    my $r = run_cli('backfill', @$args);
    is $r->{rc}, $rc, "backfill, $name: exit $rc";
    like $r->{err}, $message, "backfill, $name: says why";
    is scalar(() = $r->{err} =~ /\n/g), 1, "backfill, $name: in one line";
    is $r->{out}, '', "backfill, $name: no summary: nothing was started";
    no_key($r, "backfill, $name");
}

my $r = run_cli('backfill', '--help');
is $r->{rc}, 0, 'backfill --help: exit 0';
like $r->{out}, qr/^usage: qbsync backfill --stripe-key-file FILE --to URL/,
     'backfill --help: usage';
like $r->{out}, qr/--batch-size N .*default 2000/, 'backfill --help: options';
like $r->{out}, qr/exit codes:/, 'backfill --help: the exit codes';

done_testing;
