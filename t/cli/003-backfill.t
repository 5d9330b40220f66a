# qbsync backfill: every product of a Stripe account that pages, throttles
# and has archived products reaches the batch location exactly once, as
# compact NDJSON, streamed, in requests of at most --batch-size products;
# the answers are added up into the summary.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";

use Test::More;

use Qbsync::CliTest qw(run_cli write_file start_server stop_server read_log
                       stripe_catalog raw_product product_line
                       stripe_handler batch_handler);

my $key = 'sk_test_qbsyncCli';
my $key_file = write_file('stripe.key', "# test mode\n$key\n");
my $auth = write_file('batch.headers',
                      "# the batch location's credentials\n"
                      . "Authorization: Basic cWJzeW5jOmNsaQ==\n");

# 250 products and one written by hand (numbers and escapes as Stripe
# might write them) in the middle of page 2: three pages
my $products = stripe_catalog(250);
splice @$products, 150, 0, raw_product();
my @ids = map { $_->{id} // 'prod_CliRaw' } @$products;

my $stripe = start_server(stripe_handler($products, key => $key,
                                         throttle_page => 2,
                                         delay_last => 1));
my $batch = start_server(batch_handler(auth => 'Authorization: Basic '
                                               . 'cWJzeW5jOmNsaQ=='));

my $r = run_cli('backfill', '--stripe-key-file', $key_file,
                '--stripe-url', "$stripe->{url}/",
                '--to', "$batch->{url}/qbsync/batch",
                '--header', "\@$auth", '--header', 'X-Backfill: cli-test',
                '--batch-size', '100');

is $r->{rc}, 0, 'backfill: exit 0';
is $r->{out}, "summary: fetched 251, sent 251, requests 3, lines 251, "
              . "created 251, updated 0, unchanged 0, failed 0\n",
   'backfill: the summary adds up the three requests';

# --- what Stripe saw ------------------------------------------------------

my @pages = read_log($stripe);
is scalar @pages, 4, 'Stripe: three pages, one of them twice (the 429)';
is_deeply [ map { $_->{status} } @pages ], [ 200, 429, 200, 200 ],
          'Stripe: the 429 was tried again';
ok $pages[2]{at} - $pages[1]{answered_at} >= 0.9,
   'Stripe: Retry-After: 1 was honoured';
like $r->{err}, qr/^qbsync: Stripe answered 429 to page 2: trying again in 1 s \(try 2 of 6\)$/m,
     'Stripe: the wait is said on stderr';
is $pages[0]{headers}{authorization}, "Bearer $key",
   'Stripe: the key from the file as a bearer token';
is_deeply $pages[0]{query}, { limit => [100],
                              'expand[]' => ['data.default_price'] },
          'Stripe: limit=100, expand[]=data.default_price, no "active" '
          . '(active and archived)';
is_deeply [ map { $_->{query}{starting_after}[0] } @pages[1 .. 3] ],
          [ $ids[99], $ids[99], $ids[199] ],
          'Stripe: starting_after is the last id of the page before';

# --- what the batch location saw -------------------------------------------

my @requests = read_log($batch);
is scalar @requests, 3, 'batch location: three requests';
is_deeply [ map { scalar(() = $_->{body} =~ /\n/g) } @requests ],
          [ 100, 100, 51 ], 'batch location: at most --batch-size each';

my @lines = map { split /(?<=\n)/, $_->{body} } @requests;
is_deeply [ map { /^\{"id":"(prod_\w+)"/ ? $1 : /"id":"(prod_\w+)"/ ? $1
                                                    : 'none' } @lines ],
          \@ids, 'batch location: every product once, in Stripe\'s order';
is_deeply \@lines, [ map { product_line($_) . "\n" } @$products ],
          'batch location: each product as Stripe wrote it, compact (the '
          . 'numbers as written, the archived ones, default_price expanded)';
ok scalar(grep { /"active":false/ } @lines) == 35,
   'batch location: the archived products are there';

for my $i (0 .. $#requests) {
    my $req = $requests[$i];
    my $n = $i + 1;
    is $req->{method}, 'POST', "request $n: a POST";
    is $req->{path}, '/qbsync/batch', "request $n: to --to";
    is $req->{headers}{'content-type'}, 'application/x-ndjson',
       "request $n: Content-Type: application/x-ndjson";
    is $req->{headers}{'transfer-encoding'}, 'chunked',
       "request $n: chunked, as products arrive";
    is $req->{headers}{authorization}, 'Basic cWJzeW5jOmNsaQ==',
       "request $n: the header from --header \@FILE";
    is $req->{headers}{'x-backfill'}, 'cli-test', "request $n: --header";
    ok !exists $req->{headers}{expect}, "request $n: no Expect";
}

# Streamed: the first request's body was arriving while Stripe still held
# the last page back (it waits a second before answering it).
ok $requests[0]{first_body_at} < $pages[3]{answered_at} - 0.5,
   'streamed: products reached the batch location before Stripe gave the '
   . 'last page';

# progress without a terminal: plain lines
like $r->{err}, qr/^qbsync: page 1: 100 products from Stripe \(100 in all\)$/m,
     'progress: a line a page';
like $r->{err}, qr/^qbsync: request 3: 51 products: created 51, updated 0, unchanged 0, failed 0$/m,
     'progress: a line a request';
unlike $r->{err}, qr/\r|\e/, 'progress: no bar when stderr is not a terminal';
unlike $r->{err} . $r->{out}, qr/$key|cWJzeW5jOmNsaQ/,
       'the key and the credentials are never printed';

# --- a rerun --------------------------------------------------------------

$r = run_cli('backfill', '--stripe-key-file', $key_file,
             '--stripe-url', $stripe->{url},
             '--to', "$batch->{url}/qbsync/batch", '--header', "\@$auth");
is $r->{rc}, 0, 'rerun: exit 0';
is $r->{out}, "summary: fetched 251, sent 251, requests 1, lines 251, "
              . "created 0, updated 0, unchanged 251, failed 0\n",
   'rerun: one request (--batch-size 2000 by default), all unchanged';

stop_server($stripe);
stop_server($batch);

# --- an empty account, and pages that end on a request's bound -----------

my $few = stripe_catalog(200);
$stripe = start_server(stripe_handler($few, key => $key));
$batch = start_server(batch_handler());

$r = run_cli('backfill', '--stripe-key-file', $key_file,
             '--stripe-url', $stripe->{url}, '--to', $batch->{url},
             '--batch-size', '100');
is $r->{rc}, 0, '200 products in requests of 100: exit 0';
is_deeply [ map { scalar(() = $_->{body} =~ /\n/g) } read_log($batch) ],
          [ 100, 100 ], '200 products in requests of 100: no empty third';

stop_server($stripe);
stop_server($batch);

$stripe = start_server(stripe_handler([], key => $key));
$batch = start_server(batch_handler());

$r = run_cli('backfill', '--stripe-key-file', $key_file,
             '--stripe-url', $stripe->{url}, '--to', $batch->{url});
is $r->{rc}, 0, 'no product: exit 0';
is $r->{out}, "summary: fetched 0, sent 0, requests 0, lines 0, created 0, "
              . "updated 0, unchanged 0, failed 0\n",
   'no product: nothing sent';
is scalar(() = read_log($batch)), 0, 'no product: no request';

stop_server($stripe);
stop_server($batch);

done_testing;
