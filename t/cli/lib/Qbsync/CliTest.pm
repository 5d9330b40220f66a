package Qbsync::CliTest;

# What the tests of the qbsync command-line tool share: running the tool,
# small HTTP servers of their own (a webhook location, Stripe's list API,
# the batch location), each a child process that logs every request it
# saw as a JSON line for the test to read afterwards.
#
# The tool is $QBSYNC_CLI, or build/qbsync (make -C cli OUT=build/qbsync).

use strict;
use warnings;

use Exporter qw(import);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(cli run_cli tmp write_file start_server stop_server
                    read_log closed_port stripe_catalog stripe_text
                    product_line stripe_handler batch_handler raw_product
                    fixture);

my $top = File::Spec->rel2abs(
    File::Spec->catdir(dirname(__FILE__), '..', '..', '..', '..'));

# bytes in, bytes out: bodies are logged exactly
my $log_json = JSON::PP->new->latin1->canonical;
my $utf8 = JSON::PP->new->utf8->canonical;
my $tmp;

sub tmp {
    $tmp //= tempdir('qbsync-cli-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    return $tmp;
}

sub fixture {
    my ($name) = @_;
    my $file = File::Spec->catfile($top, 't', 'cli', 'fixtures', $name);
    open my $in, '<:raw', $file or die "$file: $!";
    local $/;
    return scalar <$in>;
}

sub cli {
    my $bin = $ENV{QBSYNC_CLI} // File::Spec->catfile($top, 'build', 'qbsync');

    return $bin if -x $bin;

    Test::More::BAIL_OUT("no qbsync tool at $bin: build it with "
                         . "make -C cli OUT=$top/build/qbsync, or set "
                         . "QBSYNC_CLI");
}

sub write_file {
    my ($name, $content, $mode) = @_;
    my $file = File::Spec->catfile(tmp(), $name);
    open my $out, '>:raw', $file or die "$file: $!";
    print $out $content;
    close $out;
    chmod $mode // 0600, $file;
    return $file;
}

sub slurp {
    my ($file) = @_;
    open my $in, '<:raw', $file or return '';
    local $/;
    return scalar <$in> // '';
}

# runs the tool: { rc, out, err, elapsed }
sub run_cli {
    my (@args) = @_;
    my %o = ref $args[-1] eq 'HASH' ? %{ pop @args } : ();
    my $dir = tmp();
    my $n = ++$Qbsync::CliTest::runs;
    my ($in, $out, $err) = map { "$dir/run$n.$_" } qw(in out err);

    write_file("run$n.in", $o{stdin} // '');

    my $start = time;
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        delete @ENV{qw(http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
                       all_proxy ALL_PROXY)};
        open STDIN, '<', $in or POSIX::_exit(126);
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>', $err or POSIX::_exit(126);
        my $bin = cli();
        { no warnings 'exec'; exec $bin $bin, @args; }
        POSIX::_exit(127);
    }

    my $deadline = $start + ($o{timeout} // 20);
    my $status;

    while (1) {
        my $done = waitpid $pid, WNOHANG;
        if ($done == $pid) {
            $status = $?;
            last;
        }
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
            $status = -1;
            last;
        }
        sleep 0.01;
    }

    return {
        rc      => $status == -1 ? 'timeout' : ($status & 127 ? 'signal '
                                                  . ($status & 127)
                                                  : $status >> 8),
        out     => slurp($out),
        err     => slurp($err),
        elapsed => time - $start,
    };
}

# a port where nothing listens
sub closed_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, Proto => 'tcp')
        or die "listen: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# A server in a child process, one connection at a time, one request a
# connection.  The handler gets the request and returns { status,
# headers, body } or { status, headers, chunks => [...] } for a chunked
# answer; it runs in the child, so its closure keeps state across
# requests.
sub start_server {
    my ($handler) = @_;

    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => 0, Listen => 16,
                                       ReuseAddr => 1, Proto => 'tcp')
        or die "listen: $!";
    my $port = $listen->sockport;
    my $log = File::Spec->catfile(tmp(), "server-$port.log");

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        $SIG{TERM} = sub { POSIX::_exit(0) };

        while (my $c = $listen->accept) {
            binmode $c;
            eval {
                local $SIG{ALRM} = sub { die "timeout\n" };
                alarm 15;
                serve($c, $handler, $log);
                alarm 0;
            };
            alarm 0;
            close $c;
        }

        POSIX::_exit(0);
    }

    close $listen;

    return { port => $port, pid => $pid, log => $log,
             url => "http://127.0.0.1:$port" };
}

sub stop_server {
    my ($server) = @_;
    kill 'TERM', $server->{pid};
    waitpid $server->{pid}, 0;
}

sub read_log {
    my ($server) = @_;
    my @requests;
    open my $in, '<:raw', $server->{log} or return ();
    while (my $line = <$in>) {
        push @requests, $log_json->decode($line);
    }
    return @requests;
}

sub serve {
    my ($c, $handler, $log) = @_;

    my $req = read_request($c) or return;
    my $res = $handler->($req);

    my %reason = (200 => 'OK', 400 => 'Bad Request', 401 => 'Unauthorized',
                  403 => 'Forbidden', 404 => 'Not Found',
                  415 => 'Unsupported Media Type',
                  429 => 'Too Many Requests',
                  500 => 'Internal Server Error',
                  503 => 'Service Unavailable');

    # logged before the answer: the tool may exit as soon as it has it
    $req->{answered_at} = time;
    $req->{status} = $res->{status};

    open my $out, '>>:raw', $log or die "$log: $!";
    print $out $log_json->encode($req), "\n";
    close $out;

    my $head = "HTTP/1.1 $res->{status} "
               . ($reason{ $res->{status} } // 'Status') . "\r\n"
               . join('', map { "$_\r\n" } @{ $res->{headers} // [] })
               . "Connection: close\r\n";

    if ($res->{chunks}) {
        syswrite_all($c, $head . "Transfer-Encoding: chunked\r\n\r\n");
        for my $chunk (@{ $res->{chunks} }) {
            next unless length $chunk;
            syswrite_all($c, sprintf("%x\r\n%s\r\n", length $chunk, $chunk));
            sleep $res->{chunk_delay} if $res->{chunk_delay};
        }
        syswrite_all($c, "0\r\n\r\n") unless $res->{cut};

    } else {
        my $body = $res->{body} // '';
        syswrite_all($c, $head . 'Content-Length: ' . length($body)
                         . "\r\n\r\n" . $body);
    }

}

sub syswrite_all {
    my ($c, $data) = @_;
    while (length $data) {
        my $n = syswrite $c, $data;
        return unless $n;
        substr($data, 0, $n) = '';
    }
}

sub read_request {
    my ($c) = @_;
    my $buf = '';

    my $fill = sub {
        my $n = sysread $c, $buf, 65536, length $buf;
        die "closed\n" unless $n;
    };

    $fill->() while index($buf, "\r\n\r\n") < 0;

    my $end = index $buf, "\r\n\r\n";
    my $head = substr $buf, 0, $end;
    substr($buf, 0, $end + 4) = '';

    my ($line, @lines) = split /\r\n/, $head;
    my ($method, $target) = split / /, $line;
    my %headers;
    for (@lines) {
        my ($name, $value) = /^([^:]+):\s*(.*)$/ or next;
        $name = lc $name;
        $headers{$name} = exists $headers{$name}
                          ? "$headers{$name}, $value" : $value;
    }

    my ($path, $query) = split /\?/, $target, 2;
    my %query;
    for (split /&/, $query // '') {
        my ($k, $v) = map { my $s = $_ // ''; $s =~ tr/+/ /;
                            $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge; $s }
                      split /=/, $_, 2;
        push @{ $query{$k} }, $v;
    }

    my %req = (method => $method, path => $path, query => \%query,
               headers => \%headers, at => time, body => '');

    if (($headers{'transfer-encoding'} // '') =~ /chunked/i) {
        while (1) {
            $fill->() while index($buf, "\r\n") < 0;
            my $size_end = index $buf, "\r\n";
            my $size = hex substr $buf, 0, $size_end;
            substr($buf, 0, $size_end + 2) = '';
            if ($size == 0) {
                $fill->() while index($buf, "\r\n") < 0;
                last;
            }
            $fill->() while length $buf < $size + 2;
            $req{first_body_at} //= time;
            $req{body} .= substr $buf, 0, $size;
            substr($buf, 0, $size + 2) = '';
            $req{chunks}++;
        }

    } elsif (my $len = $headers{'content-length'}) {
        $fill->() while length $buf < $len;
        $req{first_body_at} = time;
        $req{body} = substr $buf, 0, $len;
    }

    return \%req;
}

# --- Stripe ---------------------------------------------------------------

# n products as Stripe lists them with expand[]=data.default_price: some
# archived, some without a price
sub stripe_catalog {
    my ($n) = @_;
    my @products;

    for my $i (1 .. $n) {
        my $id = sprintf 'prod_Cli%04d', $i;
        my $price = $i % 10 == 0 ? undef : {
            id => sprintf('price_Cli%04d', $i), object => 'price',
            active => JSON::PP::true, currency => 'usd',
            product => $id, type => 'one_time',
            unit_amount => 100 * $i + 99,
            unit_amount_decimal => (100 * $i + 99) . '',
            billing_scheme => 'per_unit', recurring => undef,
        };

        push @products, {
            id => $id, object => 'product',
            active => $i % 7 == 0 ? JSON::PP::false : JSON::PP::true,
            name => "Product $i", description => "Le produit n\x{b0} $i",
            default_price => $price, metadata => { n => "$i" },
            images => [], livemode => JSON::PP::false,
            created => 1700000000 + $i, updated => 1700000000 + $i,
        };
    }

    return \@products;
}

# one product that JSON::PP cannot write: numbers as written, escapes
sub raw_product {
    return {
        id   => 'prod_CliRaw',
        text => '{"id": "prod_CliRaw", "object": "product", "active": true, '
                . '"name": "Caf\u00e9 \/ th\u00e9", "default_price": null, '
                . '"metadata": {"weight": 1.50, "big": 1e3, "neg": -0.0}, '
                . '"images": ["https://files.stripe.com/a\/b"]}',
        line => '{"id":"prod_CliRaw","object":"product","active":true,'
                . "\"name\":\"Caf\xc3\xa9 / th\xc3\xa9\",\"default_price\":null,"
                . '"metadata":{"weight":1.50,"big":1e3,"neg":-0.0},'
                . '"images":["https://files.stripe.com/a/b"]}',
    };
}

# how Stripe writes a product: indented
sub stripe_text {
    my ($product) = @_;
    return $product->{text} if exists $product->{text};
    my $text = JSON::PP->new->utf8->canonical->pretty->encode($product);
    $text =~ s/\n\z//;
    return $text;
}

# the line that the tool must send for it: compact, same order
sub product_line {
    my ($product) = @_;
    return $product->{line} if exists $product->{line};
    return $utf8->encode($product);
}

# GET /v1/products, as Stripe pages it.  Options: key, throttle_page (a
# 429 with Retry-After: 1 once on that page), fail_page (a 500 once),
# delay_last (seconds before the last page), revoke_after (the key stops
# working after that many pages), answer (a fixed answer).
sub stripe_handler {
    my ($products, %o) = @_;
    my $key = $o{key} // 'sk_test_qbsyncCli';
    my (%throttled, %failed);

    return sub {
        my ($req) = @_;

        return $o{answer} if $o{answer};

        if (($req->{headers}{authorization} // '') ne "Bearer $key"
            || (defined $o{revoke_after} && $o{revoke_after}-- <= 0))
        {
            return stripe_error(401, 'invalid_request_error', undef,
                                'Invalid API Key provided: sk_test_****Cli');
        }

        return stripe_error(404, 'invalid_request_error', 'resource_missing',
                            'Unrecognized request URL')
            unless $req->{method} eq 'GET' && $req->{path} eq '/v1/products';

        my $q = $req->{query};
        my $param = sub { $q->{ $_[0] } ? $q->{ $_[0] }[0] : undef };

        return stripe_error(400, 'invalid_request_error', 'parameter_invalid',
                            'want limit=100, expand[]=data.default_price, '
                            . 'no active')
            unless ($param->('limit') // '') eq '100'
                   && ($param->('expand[]') // '') eq 'data.default_price'
                   && !exists $q->{active};

        my $start = 0;
        if (my $after = $param->('starting_after')) {
            ($start) = grep { $products->[$_]{id} eq $after }
                       0 .. $#$products;
            return stripe_error(400, 'invalid_request_error',
                                'resource_missing', 'No such product')
                unless defined $start;
            $start++;
        }

        my $page = int($start / 100) + 1;

        if (($o{throttle_page} // 0) == $page && !$throttled{$page}++) {
            my $res = stripe_error(429, 'rate_limit_error', 'rate_limit',
                                   'Request rate limit exceeded');
            push @{ $res->{headers} }, 'Retry-After: 1';
            return $res;
        }

        if (($o{fail_page} // 0) == $page && !$failed{$page}++) {
            return stripe_error(500, 'api_error', undef, 'Stripe is down');
        }

        my $end = $start + 99 > $#$products ? $#$products : $start + 99;
        my $has_more = $end < $#$products ? 'true' : 'false';

        sleep $o{delay_last} if $o{delay_last} && $has_more eq 'false';

        my @data = map { my $t = stripe_text($_); $t =~ s/\n/\n    /g;
                         "    $t" } @$products[$start .. $end];

        return { status => 200,
                 headers => ['Content-Type: application/json',
                             'Request-Id: req_cli'],
                 body => "{\n  \"object\": \"list\",\n  \"data\": [\n"
                         . join(",\n", @data)
                         . "\n  ],\n  \"has_more\": $has_more,\n"
                         . "  \"url\": \"/v1/products\"\n}" };
    };
}

sub stripe_error {
    my ($status, $type, $code, $message) = @_;
    return { status => $status,
             headers => ['Content-Type: application/json'],
             body => $utf8->encode({ error => { type => $type,
                                                (code => $code) x !!$code,
                                                message => $message } }) };
}

# --- the batch location ---------------------------------------------------

# What qbsync_batch answers: a line per 30 products, then the summary,
# chunked, each line cut in two chunks.  Options: fail => { id => [code,
# message, no_product] }, auth => 'Name: value' that must come, answer =>
# a fixed one.
sub batch_handler {
    my (%o) = @_;
    my %seen;

    return sub {
        my ($req) = @_;

        return $o{answer} if $o{answer};

        if ($o{auth}) {
            my ($name, $value) = split /:\s*/, $o{auth}, 2;
            return { status => 401, headers => ['Content-Type: application/json'],
                     body => '{"error":"unauthorized","message":"no"}' }
                unless ($req->{headers}{lc $name} // '') eq $value;
        }

        return { status => 415, headers => ['Content-Type: application/json'],
                 body => '{"error":"unsupported_media_type","message":'
                         . '"want application/x-ndjson"}' }
            unless ($req->{headers}{'content-type'} // '')
                   eq 'application/x-ndjson';

        my @lines = split /\n/, $req->{body};
        my (@answer, %sum);
        my $batch = 0;

        for (my $i = 0; $i < @lines; $i += 30) {
            my %counts = (created => 0, updated => 0, unchanged => 0,
                          failed => 0);
            my @errors;

            for my $n ($i + 1 .. ($i + 30 < @lines ? $i + 30 : @lines)) {
                my $product = eval { $utf8->decode($lines[$n - 1]) };
                my $id = ref $product eq 'HASH' ? $product->{id} : undef;

                if (!$id) {
                    push @errors, { line => $n, product => undef,
                                    error => 'invalid_json',
                                    message => 'not a product' };
                    $counts{failed}++;

                } elsif (my $fail = $o{fail}{$id}) {
                    push @errors, { line => $n,
                                    product => $fail->[2] ? undef : $id,
                                    error => $fail->[0],
                                    message => $fail->[1] };
                    $counts{failed}++;

                } else {
                    $counts{ $seen{$id}++ ? 'unchanged' : 'created' }++;
                }
            }

            $sum{$_} += $counts{$_} for keys %counts;
            push @answer, $utf8->encode({ batch => ++$batch, %counts,
                                          errors => \@errors }) . "\n";
        }

        push @answer, $utf8->encode({ summary => JSON::PP::true,
                                      lines => scalar @lines,
                                      map { $_ => $sum{$_} // 0 }
                                      qw(created updated unchanged failed) })
                      . "\n";

        return { status => 200,
                 headers => ['Content-Type: application/x-ndjson'],
                 chunks => [ map { my $h = int(length($_) / 2);
                                   (substr($_, 0, $h), substr($_, $h)) }
                             @answer ] };
    };
}

1;
