# Self test of Qbsync::Prometheus, the strict parser of the Prometheus
# text format that the metrics tests read the module's answers with: what
# it returns for a valid exposition, and the line and reason it dies with
# for each kind of mistake.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;

use Qbsync::Prometheus;

my $INF = 9**9**9;

sub refused {
    my ($text, $why, $name) = @_;
    my $m = eval { Qbsync::Prometheus::parse($text) };
    like $@, $why, $name or diag $m ? 'it parsed' : '';
}

# what qbsync_metrics_histogram() writes for 80 us, 3 ms, 3 ms and 90 s
# (t/unit/test_metrics.c), under its family's HELP and TYPE
my $histogram = "# HELP qbsync_stage_duration_seconds Time in a stage.\n"
    . "# TYPE qbsync_stage_duration_seconds histogram\n"
    . join('', map {
          my ($le, $n) = @$_;
          "qbsync_stage_duration_seconds_bucket{stage=\"qbo \\\"create\\\"\","
          . "le=\"$le\"} $n\n"
      } [ '0.0001', 1 ], [ '0.00025', 1 ], [ '0.0005', 1 ], [ '0.001', 1 ],
        [ '0.0025', 1 ], [ '0.005', 3 ], [ '0.01', 3 ], [ '0.025', 3 ],
        [ '0.05', 3 ], [ '0.1', 3 ], [ '0.25', 3 ], [ '0.5', 3 ], [ '1', 3 ],
        [ '2.5', 3 ], [ '5', 3 ], [ '10', 3 ], [ '30', 3 ], [ '60', 3 ],
        [ '+Inf', 4 ])
    . "qbsync_stage_duration_seconds_sum{stage=\"qbo \\\"create\\\"\"} "
    . "90.00608\n"
    . "qbsync_stage_duration_seconds_count{stage=\"qbo \\\"create\\\"\"} 4\n";

{
    my $m = Qbsync::Prometheus::parse($histogram);
    my $f = $m->{families}{qbsync_stage_duration_seconds};

    is $f->{type}, 'histogram', "the C writer's histogram parses";
    is $f->{help}, 'Time in a stage.', '  its help';
    is scalar @{ $f->{samples} }, 21, '  19 buckets, _sum and _count';
    is $f->{samples}[0]{labels}{stage}, 'qbo "create"',
        '  the label value unescaped';
    is $f->{samples}[18]{labels}{le}, '+Inf', '  le as written';
    is Qbsync::Prometheus::value($m, 'qbsync_stage_duration_seconds_sum',
                                 stage => 'qbo "create"'),
        90.00608, '  value() finds the sum';
    is Qbsync::Prometheus::value($m, 'qbsync_stage_duration_seconds_sum'),
        undef, '  value() wants the labels exactly';
}

{
    my $text = <<'EOT';
# A comment, then an empty line and one of blanks

 	
# HELP qbsync_events_total Events by outcome: a \\ b\nc "d".
# TYPE qbsync_events_total counter
qbsync_events_total{outcome="synced",location="/a\\b\"c\nd"} 3
qbsync_events_total { outcome = "failed" , } 1e3 1700000000000
qbsync_events_total{} 0
#HELPER is a comment, HELP is no token of it
# TYPE qbsync_in_flight gauge
# HELP qbsync_in_flight Calls in flight.
qbsync_in_flight -Inf
qbsync_in_flight{realm="caf\xc3\xa9"}	NaN	-5
# TYPE qbsync_up untyped
qbsync_up +Inf
# TYPE qbsync_rpc summary
qbsync_rpc{quantile="0.5"} .5
qbsync_rpc{quantile="1"} 7.
qbsync_rpc_sum 9
qbsync_rpc_count 2
# TYPE qbsync_calls_total counter
qbsync_calls_total 0
# TYPE qbsync_wait_seconds histogram
qbsync_wait_seconds_bucket{realm="1",le="0.5"} 1
qbsync_wait_seconds_bucket{realm="1",le="+Inf"} 2
qbsync_wait_seconds_sum{realm="1"} 1.25
qbsync_wait_seconds_count{realm="1"} 2
qbsync_wait_seconds_count{realm="2"} 0
qbsync_wait_seconds_sum{realm="2"} 0
qbsync_wait_seconds_bucket{realm="2",le="+Inf"} 0
# TYPE qbsync_empty gauge
EOT
    $text =~ s/\\xc3\\xa9/\xc3\xa9/;

    my $m = Qbsync::Prometheus::parse($text);
    my $families = $m->{families};

    is_deeply [ sort keys %$families ],
        [ qw(qbsync_calls_total qbsync_empty qbsync_events_total
             qbsync_in_flight qbsync_rpc qbsync_up qbsync_wait_seconds) ],
        'every family, the empty one too';
    is_deeply { map { $_ => $families->{$_}{type} } keys %$families },
        { qbsync_calls_total => 'counter', qbsync_empty => 'gauge',
          qbsync_events_total => 'counter', qbsync_in_flight => 'gauge',
          qbsync_rpc => 'summary', qbsync_up => 'untyped',
          qbsync_wait_seconds => 'histogram' }, '  their types';
    is $families->{qbsync_events_total}{help},
        "Events by outcome: a \\ b\nc \"d\".", 'HELP unescaped';
    is $families->{qbsync_in_flight}{help}, 'Calls in flight.',
        'HELP after TYPE';
    is $families->{qbsync_up}{help}, undef, 'no HELP: undef';

    my $events = $families->{qbsync_events_total}{samples};
    is_deeply $events->[0],
        { name => 'qbsync_events_total', line => 6, value => 3,
          labels => { outcome => 'synced', location => "/a\\b\"c\nd" } },
        'a sample: name, labels unescaped, value, line';
    is_deeply [ $events->[1]{labels}, $events->[1]{value},
                $events->[1]{timestamp} ],
        [ { outcome => 'failed' }, 1000, 1700000000000 ],
        'blanks between tokens, a trailing comma, 1e3, a timestamp';
    is_deeply $events->[2]{labels}, {}, '{} is no labels';

    my $gauge = $families->{qbsync_in_flight}{samples};
    is $gauge->[0]{value}, -$INF, '-Inf';
    ok $gauge->[1]{value} != $gauge->[1]{value}, 'NaN';
    is $gauge->[1]{labels}{realm}, "caf\x{e9}", 'UTF-8 decoded';
    is $gauge->[1]{timestamp}, -5, 'tabs as blanks, a negative timestamp';
    is $families->{qbsync_up}{samples}[0]{value}, $INF, '+Inf';
    is_deeply [ map { $_->{value} } @{ $families->{qbsync_rpc}{samples} } ],
        [ 0.5, 7, 9, 2 ], '.5 and 7. are floats';
    is scalar @{ $families->{qbsync_wait_seconds}{samples} }, 7,
        'a histogram of two series, one in another order';
    is_deeply $families->{qbsync_empty}{samples}, [], 'a family without '
        . 'samples';
}

is_deeply Qbsync::Prometheus::parse(''), { families => {} },
    'an empty exposition';

# the first lines of the mistakes below
my $counter = "# TYPE a counter\n";
my $hist = "# TYPE h histogram\n";

refused "a 1\n", qr/^line 1: sample a has no TYPE line before it\n/,
    'a sample without TYPE';
refused "# HELP a Help.\na 1\n", qr/^line 2: sample a has no TYPE/,
    'a sample with HELP alone';
refused "${counter}a_total 1\n",
    qr/^line 2: sample a_total has no TYPE .*counter a's samples are named a/,
    "a counter's sample named name_total";
refused "${counter}# TYPE a gauge\n",
    qr/^line 2: a second TYPE for a \(line 1\)/,
    'a second TYPE';
refused "# HELP a x\n# HELP a y\n",
    qr/^line 2: a second HELP for a \(line 1\)/,
    'a second HELP';
refused "${counter}a 1\n# TYPE b gauge\nb 1\na 2\n",
    qr/^line 5: sample a of counter a after its family ended at line 2/,
    "a family's samples apart";
refused "${counter}a 1\n# TYPE b gauge\n# HELP a Late.\n",
    qr/^line 4: HELP of a after its family ended at line 2/,
    'HELP of a family that ended';
refused "${hist}h_bucket{le=\"+Inf\"} 1\n# TYPE b gauge\nh_count 1\n",
    qr/^line 2: histogram h has no _count/,
    "a histogram is checked when its family ends";
refused "${hist}# TYPE h_count gauge\n",
    qr/^line 2: TYPE of h_count \(gauge\) clashes with histogram h \(line 1\)/,
    "a family named like a histogram's series";
refused "# TYPE a Counter\n", qr/^line 1: TYPE of a: "Counter" is not counter/,
    'a type in capitals';
refused "# TYPE a info\n", qr/^line 1: TYPE of a: "info" is not/,
    'an unknown type';
refused "# TYPE a\n", qr/^line 1: TYPE of a: no type/, 'TYPE without type';
refused "# TYPE a-b counter\n", qr/^line 1: TYPE: invalid metric name/,
    'an invalid name in TYPE';
refused "# HELP\n", qr/^line 1: HELP: no metric name/, 'HELP without name';
refused "# HELP a x\\ty\n", qr/^line 1: HELP of a: invalid escape "\\t"/,
    'an escape other than \\\\ and \\n in HELP';
refused "# HELP a x\\\"y\n", qr/^line 1: HELP of a: invalid escape "\\"/,
    'HELP does not escape quotes';
refused "# HELP a x\\\n", qr/^line 1: HELP of a: invalid escape "\\"/,
    'a backslash at the end of HELP';
refused "${counter}1a 1\n", qr/^line 2: expected a metric name/,
    'a sample name starting with a digit';
refused "${counter}a-b 1\n", qr/^line 2: invalid metric name "a-b"/,
    'a sample name with "-"';
refused "${counter}a{1b=\"x\"} 1\n", qr/^line 2: a: expected a label name/,
    'a label name starting with a digit';
refused "${counter}a{b:c=\"x\"} 1\n", qr/^line 2: a: expected = after b/,
    'a colon in a label name';
refused "${counter}a{__name__=\"x\"} 1\n",
    qr/^line 2: a: the label name __name__ is reserved/,
    '__name__';
refused "${counter}a{b=\"x\",b=\"y\"} 1\n", qr/^line 2: a: the label b twice/,
    'a label twice';
refused "${counter}a{b=\"x\\ty\"} 1\n",
    qr/^line 2: a's label b: invalid escape "\\t"/, 'a \\t in a label value';
refused "${counter}a{b=\"x} 1\n",
    qr/^line 2: a: the value of b is not a quoted/,
    'a label value not closed';
refused "${counter}a{b=x} 1\n", qr/^line 2: a: the value of b is not a quoted/,
    'a label value not quoted';
refused "${counter}a{b=\"x\" c=\"y\"} 1\n",
    qr/^line 2: a: expected , or } after the value of b/,
    'labels without a comma';
refused "${counter}a{,} 1\n", qr/^line 2: a: expected a label name or }/,
    'a comma alone';
refused "${counter}a\n", qr/^line 2: a: no value/, 'no value';
refused "${counter}a{b=\"x\"}\n", qr/^line 2: a: no value/,
    'labels and no value';

for my $value (qw(1_000 0x10 0x1p-2 1e400 abc +nan 1e 1.2.3 --1)) {
    refused "${counter}a $value\n",
        qr/^line 2: a: the value "\Q$value\E" is not a float/,
        "the value $value";
}

refused "${counter}a 1 1.5\n",
    qr/^line 2: a: the timestamp "1\.5" is not an int64/, 'a float timestamp';
refused "${counter}a 1 9223372036854775808\n",
    qr/^line 2: a: the timestamp .* is not an int64/,
    'a timestamp past int64';
ok eval { Qbsync::Prometheus::parse("${counter}a 1 -9223372036854775808\n") },
    'the smallest int64 timestamp';
refused "${counter}a 1 2 3\n",
    qr/^line 2: a: unexpected "3" after the value and timestamp/,
    'text after the timestamp';
refused "${counter}a -1\n", qr/^line 2: counter a is negative/,
    'a negative counter';
refused "${counter}a 1\na 2\n", qr/^line 3: a repeats line 2/,
    'the same series twice';
refused "${counter}a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n",
    qr/^line 3: a\{x="1",y="2"\} repeats line 2/,
    'the same series in another label order';
refused "# TYPE s summary\ns 1\n",
    qr/^line 2: s: a summary's quantile needs a quantile label/,
    "a summary's sample without quantile";
refused "# TYPE s summary\ns{quantile=\"2\"} 1\n",
    qr/^line 2: s\{quantile="2"\}: a summary's quantile/,
    'a quantile past 1';

# histograms
sub buckets {
    return $hist . join('', map { "h_bucket{le=\"$_->[0]\"} $_->[1]\n" } @_);
}

refused buckets([ '0.5', 1 ], [ '1', 2 ]) . "h_sum 1\nh_count 2\n",
    qr/^line 3: histogram h: the last bucket is le="1", not \+Inf/,
    'no +Inf bucket';
refused buckets([ '1', 1 ], [ '0.5', 1 ], [ '+Inf', 1 ]),
    qr/^line 3: histogram h: le="0\.5" after le="1" \(line 2\): the bounds/,
    'bounds out of order';
refused buckets([ '1', 1 ], [ '1.0', 1 ], [ '+Inf', 1 ]),
    qr/^line 3: histogram h: le="1\.0" after le="1"/, 'a bound twice';
refused buckets([ '1', 2 ], [ '+Inf', 1 ]),
    qr/^line 3: histogram h: le="\+Inf" counts 1, less than le="1" \(line 2\)/,
    'counts that decrease';
refused buckets([ '+Inf', 2 ]) . "h_sum 1\nh_count 3\n",
    qr/^line 4: histogram h: _count is 3, the \+Inf bucket \(line 2\) 2/,
    '_count other than the +Inf bucket';
refused buckets([ '+Inf', 2 ]) . "h_sum 1\n",
    qr/^line 2: histogram h has no _count/, 'no _count';
refused buckets([ '+Inf', 2 ]) . "h_count 2\n",
    qr/^line 2: histogram h has no _sum/, 'no _sum';
refused "${hist}h_sum{r=\"1\"} 1\nh_count{r=\"1\"} 0\n",
    qr/^line 2: histogram h\{r="1"\} has no _bucket/, 'no bucket at all';
refused buckets([ '+Inf', 1 ]) . "h_sum 1\nh_count 1\n"
        . "h_bucket{r=\"2\",le=\"+Inf\"} 1\nh_sum{r=\"2\"} 1\n",
    qr/^line 5: histogram h\{r="2"\} has no _count/,
    'each series is checked';
refused "${hist}h_bucket 1\n", qr/^line 2: h_bucket: a bucket without le/,
    'a bucket without le';
refused "${hist}h_bucket{le=\"x\"} 1\n",
    qr/^line 2: h_bucket\{le="x"\}: le is not a number/, 'le not a number';
refused "${hist}h_bucket{le=\"NaN\"} 1\n", qr/^line 2: .*le is not a number/,
    'le NaN';
refused "${hist}h_sum{le=\"1\"} 1\n",
    qr/^line 2: h_sum\{le="1"\}: le on a histogram's h_sum/, 'le on _sum';
refused "${hist}h_bucket{le=\"+Inf\"} -1\n",
    qr/^line 2: h_bucket\{le="\+Inf"\} is negative or NaN/,
    'a negative bucket';
refused "${hist}h 1\n", qr/^line 2: sample h has no TYPE .*histogram h\)/,
    "a histogram's family name as a sample";

# lines
refused "${counter}a 1",
    qr/^line 2: the last line does not end with a line feed/,
    'no line feed at the end';
refused "# TYPE a counter\r\na 1\r\n", qr/^line 1: the line ends with CR LF/,
    'CR LF';
refused "${counter}a{b=\"\xff\"} 1\n", qr/^line 2: the line is not UTF-8/,
    'invalid UTF-8';
refused "${counter}a{b=\"\xed\xa0\x80\"} 1\n",
    qr/^line 2: the line is not UTF-8/,
    'a surrogate';

refused "# TYPE a counter\na{b=\"\x{263a}\"} 1\n", qr/must be bytes/,
    'characters are refused: the body is bytes';

done_testing;
