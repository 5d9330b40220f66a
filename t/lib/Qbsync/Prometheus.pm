package Qbsync::Prometheus;

# A strict parser of the Prometheus text exposition format 0.0.4, for the
# tests of the metrics location:
#
#   use Qbsync::Prometheus;
#   my $m = Qbsync::Prometheus::parse($body);    # dies "line N: why"
#   $m->{families}{qbsync_events_total}{type}    # 'counter'
#   Qbsync::Prometheus::value($m, 'qbsync_events_total',
#                             outcome => 'synced');
#
# The result is { families => { NAME => { type, help, samples => [
# { name, labels => { .. }, value, line, timestamp? } ] } } }, samples in
# the order of the text; help, names and label values are character
# strings (the text is decoded as UTF-8), values are numbers (+Inf, -Inf
# and NaN as Perl's).
#
# It takes what Prometheus' own parser (prometheus/common expfmt) takes,
# and refuses, beyond what that parser refuses:
# - a sample whose family has no TYPE line before it (no implicit
#   untyped), a family's lines not together, a second HELP or TYPE;
# - a type other than the five, in lower case, as the format lists them;
# - a counter's sample named other than its family (0.0.4 has no _total
#   suffix of its own: "# TYPE x_total counter" goes with "x_total 1"),
#   a negative counter;
# - a histogram whose series (a label set without le) lacks _sum or
#   _count, whose le bounds do not increase up to +Inf, whose cumulative
#   counts decrease, or whose _count is not its +Inf bucket's;
# - the same series twice, an escape other than \\ \" \n (\\ \n in HELP),
#   invalid UTF-8, a last line without its line feed, CR LF line ends.

use strict;
use warnings;

use Encode ();

my $NAME  = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $LABEL = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
my %TYPES = map { $_ => 1 } qw(counter gauge histogram summary untyped);

my $INF = 9**9**9;
my $NAN = $INF - $INF;

# the sample names of a family of each type, besides none
my %SERIES = (
    histogram => [ '_bucket', '_sum', '_count' ],
    summary   => [ '', '_sum', '_count' ],
);

sub parse {
    my ($text) = @_;

    die "parse: the exposition must be bytes, not characters\n"
        if $text =~ /[^\x00-\xff]/;

    my $p = { families => {}, current => undef, line => 0 };

    if (length $text && substr($text, -1) ne "\n") {
        my $last = () = $text =~ /\n/g;
        fail($p, $last + 1, 'the last line does not end with a line feed');
    }

    my @lines = split /\n/, $text, -1;
    pop @lines;

    for my $raw (@lines) {
        $p->{line}++;

        fail($p, $p->{line}, 'the line ends with CR LF, not LF alone')
            if $raw =~ /\r\z/;

        my $line = eval { Encode::decode('UTF-8', $raw, Encode::FB_CROAK) };
        fail($p, $p->{line}, 'the line is not UTF-8') unless defined $line;

        next if $line =~ /^[ \t]*\z/;

        if ($line =~ /^[ \t]*#[ \t]*(\S*)(.*)\z/) {
            comment($p, $1, $2);
        } else {
            sample($p, $line);
        }
    }

    close_family($p);

    my %families;

    for my $name (keys %{ $p->{families} }) {
        my $f = $p->{families}{$name};
        $families{$name} = { type => $f->{type}, help => $f->{help},
                             samples => $f->{samples} };
    }

    return { families => \%families };
}

# the value of the sample of that name with exactly these labels, or undef
sub value {
    my ($metrics, $name, %labels) = @_;

    my $want = series_key($name, \%labels);

    for my $f (values %{ $metrics->{families} }) {
        for my $s (@{ $f->{samples} }) {
            return $s->{value}
                if series_key($s->{name}, $s->{labels}) eq $want;
        }
    }

    return undef;
}

sub fail {
    my ($p, $line, $why) = @_;
    die "line $line: $why\n";
}

sub comment {
    my ($p, $keyword, $rest) = @_;

    # a comment of any other kind, "#HELP" included as Prometheus does
    return unless ($keyword eq 'HELP' || $keyword eq 'TYPE')
                  && $rest =~ /^(?:[ \t]|\z)/;

    $rest =~ s/^[ \t]+//;

    $rest =~ /^($NAME)(?:[ \t]+|\z)(.*)\z/
        or fail($p, $p->{line}, "$keyword: "
                . ($rest eq '' ? 'no metric name'
                               : "invalid metric name in \"$rest\""));

    my ($name, $arg) = ($1, $2);
    my $f = open_family($p, $name, $keyword);

    if ($keyword eq 'HELP') {
        fail($p, $p->{line}, "a second HELP for $name (line $f->{help_line})")
            if defined $f->{help};

        $f->{help} = unescape($p, $arg, 0, "HELP of $name");
        $f->{help_line} = $p->{line};
        return;
    }

    $arg =~ s/[ \t]+\z//;

    fail($p, $p->{line}, "TYPE of $name: no type") if $arg eq '';
    fail($p, $p->{line}, "TYPE of $name: \"$arg\" is not counter, gauge, "
                         . 'histogram, summary or untyped')
        unless $TYPES{$arg};
    fail($p, $p->{line}, "a second TYPE for $name (line $f->{type_line})")
        if defined $f->{type};

    # a histogram's x_count and a gauge x_count could not be told apart
    for my $other (values %{ $p->{families} }) {
        next if $other == $f || !defined $other->{type};

        if (grep { $_ eq $name } series_names($other)
            or grep { $_ eq $other->{name} }
                    series_names({ name => $name, type => $arg }))
        {
            fail($p, $p->{line}, "TYPE of $name ($arg) clashes with "
                 . "$other->{type} $other->{name} (line $other->{type_line})");
        }
    }

    $f->{type} = $arg;
    $f->{type_line} = $p->{line};
}

# the family of a HELP or TYPE line becomes the current one
sub open_family {
    my ($p, $name, $what) = @_;

    my $f = $p->{families}{$name};

    if ($f && $f->{closed}) {
        fail($p, $p->{line}, "$what of $name after its family ended at line "
             . "$f->{last_line} (a family's lines must be together)");
    }

    if (!$f) {
        close_family($p);
        $f = $p->{families}{$name} = { name => $name, samples => [] };
        $p->{current} = $name;
    }

    $f->{last_line} = $p->{line};

    return $f;
}

sub close_family {
    my ($p) = @_;

    my $name = $p->{current} // return;
    my $f = $p->{families}{$name};

    $f->{closed} = 1;
    $p->{current} = undef;

    check_histogram($p, $f) if ($f->{type} // '') eq 'histogram';
}

sub series_names {
    my ($f) = @_;
    return map { "$f->{name}$_" } @{ $SERIES{ $f->{type} } // [''] };
}

sub sample {
    my ($p, $line) = @_;

    local $_ = $line;
    my $ln = $p->{line};

    /\G[ \t]*/gc;
    /\G($NAME)/gc or fail($p, $ln, 'expected a metric name, a comment or '
                          . 'an empty line, not "' . substr($_, pos) . '"');
    my $name = $1;
    my %labels;

    # pos() and not \z: Perl refuses a second empty match at one place
    my $blank = /\G[ \t]+/gc;

    if (/\G\{/gc) {
        labels($p, $name, \%labels);
        /\G[ \t]*/gc;
    } elsif (pos == length) {
        fail($p, $ln, "$name: no value");
    } elsif (!$blank) {
        fail($p, $ln, "invalid metric name \"$name"
             . (/\G(\S+)/gc ? $1 : '') . '"');
    }

    /\G([^ \t]+)/gc or fail($p, $ln, "$name: no value");
    my $text = $1;
    my $value = go_float($text);
    fail($p, $ln, "$name: the value \"$text\" is not a float")
        unless defined $value;

    my $sample = { name => $name, labels => \%labels, value => $value,
                   line => $ln };

    if (/\G[ \t]+([^ \t]+)/gc) {
        my $ts = $1;
        fail($p, $ln, "$name: the timestamp \"$ts\" is not an int64 of "
                      . 'milliseconds')
            unless is_int64($ts);
        $sample->{timestamp} = $ts + 0;
    }

    /\G[ \t]*/gc;
    pos == length
        or fail($p, $ln, "$name: unexpected \"" . substr($_, pos) . '" after '
                         . 'the value' . (exists $sample->{timestamp}
                                          ? ' and timestamp' : ''));

    add_sample($p, family_of($p, $name), $sample);
}

# {k="v",...} after the brace: blanks between tokens, a trailing comma
sub labels {
    my ($p, $name, $labels) = @_;

    my $ln = $p->{line};

    for (;;) {
        /\G[ \t]*/gc;
        return if /\G\}/gc;

        /\G($LABEL)/gc
            or fail($p, $ln, "$name: expected a label name or }, not \""
                    . substr($_, pos) . '"');
        my $label = $1;

        fail($p, $ln, "$name: the label name __name__ is reserved")
            if $label eq '__name__';
        fail($p, $ln, "$name: the label $label twice")
            if exists $labels->{$label};

        /\G[ \t]*=[ \t]*/gc or fail($p, $ln, "$name: expected = after $label");
        /\G"((?:[^"\\]|\\.)*)"/gc
            or fail($p, $ln, "$name: the value of $label is not a quoted "
                             . 'string, or not closed');

        $labels->{$label} = unescape($p, $1, 1, "$name\'s label $label");

        /\G[ \t]*/gc;
        next if /\G,/gc;
        return if /\G\}/gc;

        fail($p, $ln, "$name: expected , or } after the value of $label");
    }
}

sub unescape {
    my ($p, $text, $quoted, $what) = @_;

    my $allowed = $quoted ? qr/[\\"n]/ : qr/[\\n]/;

    while ($text =~ /\\(.?)/gs) {
        my $c = $1;
        fail($p, $p->{line}, "$what: invalid escape \"\\$c\" (only \\\\, "
             . ($quoted ? '\\", ' : '') . 'and \\n)')
            unless length $c && $c =~ /^$allowed\z/;
    }

    $text =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;

    return $text;
}

# strconv.ParseFloat as expfmt calls it: no hexadecimal, no underscores
sub go_float {
    my ($text) = @_;

    return $INF  if $text =~ /^\+?inf(?:inity)?\z/i;
    return -$INF if $text =~ /^-inf(?:inity)?\z/i;
    return $NAN  if $text =~ /^nan\z/i;

    return undef
        unless $text =~ /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)
                          (?:[eE][+-]?[0-9]+)?\z/x;

    my $value = $text + 0;

    # out of range: Go says ErrRange where Perl says Inf
    return undef if $value == $INF || $value == -$INF;

    return $value;
}

sub is_int64 {
    my ($text) = @_;

    $text =~ /^([+-]?)0*([0-9]+)\z/ or return 0;

    my ($sign, $digits) = ($1, $2);
    my $max = $sign eq '-' ? '9223372036854775808' : '9223372036854775807';

    return length $digits < 19
           || (length $digits == 19 && $digits le $max);
}

# the family a sample belongs to: the current one, or no family at all
sub family_of {
    my ($p, $name) = @_;

    my $current = defined $p->{current} ? $p->{families}{$p->{current}}
                                        : undef;

    return $current
        if $current && defined $current->{type}
           && grep { $_ eq $name } series_names($current);

    for my $f (values %{ $p->{families} }) {
        next unless defined $f->{type}
                    && grep { $_ eq $name } series_names($f);

        fail($p, $p->{line}, "sample $name of $f->{type} $f->{name} after "
             . "its family ended at line $f->{last_line} (a family's "
             . 'samples must be together)');
    }

    my $hint = '';

    if ($name =~ /^(.+)_total\z/ && $p->{families}{$1}
        && ($p->{families}{$1}{type} // '') eq 'counter')
    {
        $hint = " (counter $1's samples are named $1)";

    } elsif ($current && $current->{type}) {
        $hint = " (the current family is $current->{type} "
                . "$current->{name})";
    }

    fail($p, $p->{line}, "sample $name has no TYPE line before it$hint");
}

sub add_sample {
    my ($p, $f, $s) = @_;

    my ($ln, $name, $labels) = ($p->{line}, $s->{name}, $s->{labels});
    my $series = $name . label_text($labels);

    fail($p, $ln, "$series repeats line $f->{seen}{$series}")
        if $f->{seen}{$series};
    $f->{seen}{$series} = $ln;

    if ($f->{type} eq 'counter') {
        fail($p, $ln, "counter $series is negative") if $s->{value} < 0;

    } elsif ($f->{type} eq 'histogram') {
        my $bucket = $name eq "$f->{name}_bucket";

        if ($bucket) {
            defined $labels->{le}
                or fail($p, $ln, "$series: a bucket without le");

            my $le = go_float($labels->{le});
            fail($p, $ln, "$series: le is not a number")
                unless defined $le && $le == $le;
            $s->{le} = $le;

        } elsif (exists $labels->{le}) {
            fail($p, $ln, "$series: le on a histogram's $name");
        }

        fail($p, $ln, "$series is negative or NaN")
            unless $s->{value} >= 0 || $name eq "$f->{name}_sum";

    } elsif ($f->{type} eq 'summary' && $name eq $f->{name}) {
        my $q = defined $labels->{quantile} ? go_float($labels->{quantile})
                                            : undef;
        fail($p, $ln, "$series: a summary's quantile needs a quantile "
                      . 'label from 0 to 1')
            unless defined $q && $q >= 0 && $q <= 1;
    }

    $f->{last_line} = $ln;
    push @{ $f->{samples} }, $s;
}

# per series (the labels but le), in the order they first appear
sub check_histogram {
    my ($p, $f) = @_;

    my (%group, @order);

    for my $s (@{ $f->{samples} }) {
        my %labels = %{ $s->{labels} };
        delete $labels{le};
        my $key = label_text(\%labels);

        push @order, $key unless $group{$key};
        my $g = $group{$key} //= { line => $s->{line}, buckets => [] };

        if ($s->{name} eq "$f->{name}_bucket") {
            push @{ $g->{buckets} }, $s;
        } else {
            $g->{ $s->{name} eq "$f->{name}_sum" ? 'sum' : 'count' } = $s;
        }
    }

    for my $key (@order) {
        my $g = $group{$key};
        my $series = "$f->{name}$key";
        my $previous;

        fail($p, $g->{line}, "histogram $series has no _bucket")
            unless @{ $g->{buckets} };

        for my $b (@{ $g->{buckets} }) {
            if ($previous) {
                fail($p, $b->{line}, "histogram $series: le=\"$b->{labels}{le}"
                     . "\" after le=\"$previous->{labels}{le}\" (line "
                     . "$previous->{line}): the bounds must increase")
                    unless $b->{le} > $previous->{le};
                fail($p, $b->{line}, "histogram $series: le=\"$b->{labels}{le}"
                     . "\" counts $b->{value}, less than le=\""
                     . "$previous->{labels}{le}\" (line $previous->{line}): "
                     . 'buckets are cumulative')
                    unless $b->{value} >= $previous->{value};
            }
            $previous = $b;
        }

        fail($p, $previous->{line}, "histogram $series: the last bucket is "
             . "le=\"$previous->{labels}{le}\", not +Inf")
            unless $previous->{le} == $INF;
        fail($p, $g->{line}, "histogram $series has no _count")
            unless $g->{count};
        fail($p, $g->{line}, "histogram $series has no _sum")
            unless $g->{sum};
        fail($p, $g->{count}{line}, "histogram $series: _count is "
             . "$g->{count}{value}, the +Inf bucket (line $previous->{line}) "
             . $previous->{value})
            unless $g->{count}{value} == $previous->{value};
    }
}

# {a="1",b="2"}, sorted, escaped as written; empty for no labels
sub label_text {
    my ($labels) = @_;

    return '' unless %$labels;

    return '{' . join(',', map {
        (my $v = $labels->{$_}) =~ s/(["\\])/\\$1/g;
        $v =~ s/\n/\\n/g;
        "$_=\"$v\"";
    } sort keys %$labels) . '}';
}

sub series_key {
    my ($name, $labels) = @_;
    return $name . label_text($labels);
}

1;
