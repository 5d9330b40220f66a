package Test::Nginx::Fallback::HTTP;

# The HTTP side of the fallback Test::Nginx runner: turning "--- request"
# style text into raw HTTP/1.x requests, sending them over a plain socket
# (several at once for pipelining) and splitting the raw answer into
# HTTP::Response objects (Content-Length, chunked, or up to the close).
# Own code, see t/lib/fallback/README.md.

use v5.36;
use Errno ();    # for %!
use HTTP::Response ();
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes qw(sleep);

# --- more_headers text -> ("Name: value\r\n"..., is_chunked)
# Lines starting with "#" are comments.
sub format_more_headers ($text) {
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $text // '') {
        next if $line =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $line, 2;
        $val //= '';
        $chunked = 1 if lc $key eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $chunked);
}

# Split "METHOD [URI [VERSION]]\nbody" into its parts; undef if the first
# line is not of that form.
sub parse_request_text ($text) {
    my ($first, $body) = $text =~ /\A([^\n]*\n?)(.*)\z/s;
    return undef unless $first =~ /\S/;
    my @words = split ' ', $first;
    return undef if @words > 3;
    return {
        method  => $words[0],
        uri     => $words[1] // '/',
        version => $words[2] // 'HTTP/1.1',
        body    => $body,
    };
}

# Build the raw request the way Test::Nginx does: request line, then
# "Host: localhost" and "Connection: <close|keep-alive>" unless given in
# more_headers, then more_headers, then Content-Length for a body (which is
# then stripped of surrounding white space) unless the body is chunked or
# more_headers sets Content-Length itself.
sub build_request (%a) {
    my $req = parse_request_text($a{text})
        // return (undef, "Request line is not valid. Should be 'meth [url [version]]'"
                          . " but got \"$a{text}\"");
    my ($headers, $chunked) = format_more_headers($a{more_headers});
    my $body = $req->{body};

    my $len = '';
    if (!$chunked && $body ne '' && $headers !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//g;
        $len = "Content-Length: " . length($body) . "\r\n";
    }

    my $head = "$req->{method} $req->{uri} $req->{version}\r\n";
    $head .= "Host: $a{server_name}\r\n" if $headers !~ /(?:^|\n)Host:/i;
    $head .= "Connection: $a{connection}\r\n" if $headers !~ /(?:^|\n)Connection/i;
    $head .= "$headers$len\r\n";
    return ({ head => $head, body => $body, orig_body => $req->{body} });
}

# A request given as packets ([ "POST /t\nhel", {value => "lo", delay_before => 1} ]):
# build the whole request, then cut it where the packets were cut (a cut
# in the request line or headers moves to the end of the headers).
sub build_packets ($packets, %a) {
    my @values = map { ref $_ ? $_->{value} : $_ } @$packets;
    my ($req, $err) = build_request(%a, text => join('', @values));
    return (undef, $err) unless $req;

    my $raw = $req->{head} . $req->{body};
    my $head_len = length $req->{head};
    my $body_in_text = length(join '', @values) - length $req->{orig_body};
    my $trimmed = $req->{body} eq $req->{orig_body} ? 0
                : length(($req->{orig_body} =~ /^(\s*)/)[0]);

    my @out;
    my ($from, $text_end) = (0, 0);
    for my $i (0 .. $#values) {
        $text_end += length $values[$i];
        my $to = $head_len + $text_end - $body_in_text - $trimmed;
        $to = $head_len if $to < $head_len;
        $to = length $raw if $to > length $raw || $i == $#values;
        $to = $from if $to < $from;

        my $packet = { value => substr($raw, $from, $to - $from) };
        my $orig = $packets->[$i];
        $packet->{delay_before} = $orig->{delay_before}
            if ref $orig && defined $orig->{delay_before};
        push @out, $packet;
        $from = $to;
    }
    return (\@out);
}

# Send the packets on one connection and read until the server closes it.
# The timeout is per I/O wait, as in Test::Nginx.
# Returns { raw => ..., timed_out => 0|1, error => msg|undef }.
sub send_request (%a) {
    my $result = { raw => '', timed_out => 0, error => undef };
    my @packets = @{ $a{packets} };
    my $timeout = $a{timeout};

    my $sock;
    for my $try (1 .. 50) {
        $sock = IO::Socket::INET->new(
            PeerAddr => $a{host},
            PeerPort => $a{port},
            Proto    => 'tcp',
            Timeout  => $timeout,
        );
        last if $sock;
        last unless $!{ECONNREFUSED};
        sleep($try < 10 ? 0.01 : 0.1);
    }
    if (!$sock) {
        $result->{error} = "Can't connect to $a{host}:$a{port}: $!";
        return $result;
    }
    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';

    my $sel = IO::Select->new($sock);
    my $writing = shift @packets;
    my $wbuf = $writing->{value} // '';
    my $woff = 0;

    while (1) {
        my ($readable, $writable) = IO::Select->select(
            $sel, ($writing ? $sel : undef), undef, $timeout);
        if (!$readable && !$writable) {
            next if $!{EINTR};
            $result->{timed_out} = 1;
            last;
        }

        if ($writable && @$writable && $writing) {
            my $n = syswrite $sock, $wbuf, length($wbuf) - $woff, $woff;
            if (!defined $n) {
                if (!$!{EAGAIN} && !$!{EWOULDBLOCK} && !$!{EINTR}) {
                    undef $writing;    # the server closed early; read what it sent
                }
            } elsif (($woff += $n) >= length $wbuf) {
                $writing = shift @packets;
                if ($writing) {
                    $wbuf = $writing->{value} // '';
                    $woff = 0;
                    my $delay = $writing->{delay_before} // $a{middle_delay};
                    sleep $delay if $delay;
                } elsif (defined $a{shutdown}) {
                    shutdown $sock, $a{shutdown};
                }
            }
        }

        if ($readable && @$readable) {
            my $n = sysread $sock, my $buf, 65536;
            if (!defined $n) {
                next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
                $result->{error} = "read failed: $!" if $result->{raw} eq '';
                last;
            }
            last if $n == 0;
            $result->{raw} .= $buf;
        }
    }
    close $sock;
    return $result;
}

# One response off the front of $raw.  Returns
# ($response, $raw_headers, $left_over_bytes, $error).
sub parse_response ($raw, $head_req = 0) {
    my $raw_headers = $raw =~ /\A(.*?\r\n)\r\n/s ? $1 : '';
    my $res = HTTP::Response->parse($raw);

    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        $res->code(undef);
        $code = undef;
    }
    return ($res, $raw_headers, undef) if $code && ($code == 304 || $code == 101);

    my $left;
    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');

    if (defined $enc && $enc eq 'chunked') {
        my $data = $res->content // '';
        my $decoded = '';
        pos($data) = 0;
        while (1) {
            if ($data =~ /\G0[ \t]*\r\n\r\n/gc) {
                $left = substr $data, pos $data if pos($data) < length $data;
                last;
            }
            if ($data =~ /\G[ \t]*([0-9A-Fa-f]+)[ \t]*\r\n/gc) {
                my $size = hex $1;
                my $start = pos $data;
                if ($start + $size > length $data) {
                    return ($res, $raw_headers, undef,
                            "invalid chunked data received (not enough octets for the data section)");
                }
                $decoded .= substr $data, $start, $size;
                pos($data) = $start + $size;
                if ($data !~ /\G\r\n/gc) {
                    return ($res, $raw_headers, undef,
                            "invalid chunked data received (expected CRLF)");
                }
                next;
            }
            my $rest = substr $data, pos($data) // 0;
            return ($res, $raw_headers, undef,
                    length $rest ? "invalid chunked body received: $rest"
                                 : "no last chunk found - $data");
        }
        $res->content($decoded);

    } elsif (defined $len && $len =~ /^\d+$/) {
        my $data = $res->content // '';
        if (length $data < $len) {
            warn "WARNING: response body truncated: $len expected, but got "
                 . length($data) . "\n" unless $head_req;
        } elsif (length $data > $len) {
            $left = substr $data, $len;
            $res->content(substr $data, 0, $len);
        }
    }

    return ($res, $raw_headers, $left);
}

1;
