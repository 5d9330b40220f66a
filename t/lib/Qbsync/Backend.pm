package Qbsync::Backend;

# A small HTTP backend for the gate's tests, forked from the .t process so
# that it works the same under the real Test::Nginx and under ours.  Each
# connection gets its own process, so slow answers do not block others.
#
#   /delay/<ms>    200 after <ms> milliseconds
#   /status/<n>    answers status <n>
#   /hole          reads the request and never answers
#   POST /collect  keeps the body (an OTLP export, say), a line of the file
#   GET /collect   answers the bodies kept, one a line
#   anything else  200 "backend"
#
# The port is exported as TEST_NGINX_BACKEND_PORT for the configs.

use strict;
use warnings;

use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep);

my $server_pid;

# where /collect keeps what it is given: each connection is a process
my $collected = "/tmp/qbsync-backend-$$.collected";

sub start {
    my $listener = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => 0,
        Listen    => 256,
        ReuseAddr => 1,
    ) or die "backend: cannot listen: $!";

    $ENV{TEST_NGINX_BACKEND_PORT} = $listener->sockport;

    $server_pid = fork;
    die "backend: fork: $!" unless defined $server_pid;

    if ($server_pid == 0) {
        POSIX::setpgid(0, 0);
        serve($listener);
        POSIX::_exit(0);
    }

    close $listener;

    return $ENV{TEST_NGINX_BACKEND_PORT};
}

sub serve {
    my ($listener) = @_;

    local $SIG{CHLD} = 'IGNORE';

    while (1) {
        my $client = $listener->accept or next;
        my $pid = fork;

        if (defined $pid && $pid == 0) {
            close $listener;
            answer($client);
            POSIX::_exit(0);
        }

        close $client;
    }
}

sub answer {
    my ($client) = @_;

    my $head = '';
    while ($head !~ /\r\n\r\n/) {
        my $n = sysread($client, $head, 4096, length $head);
        return if !$n;
    }

    my ($path) = $head =~ m{^\S+ (\S+)};
    my ($length) = $head =~ /^Content-Length:\s*(\d+)/mi;
    my $body = substr($head, index($head, "\r\n\r\n") + 4);

    while (defined $length && length($body) < $length) {
        my $n = sysread($client, $body, 65536, length $body);
        last if !$n;
    }

    if ($path =~ m{^/hole}) {
        1 while sysread($client, my $ignored, 4096);
        return;
    }

    my ($status, $text) = (200, "backend\n");

    if ($path =~ m{^/collect}) {
        if ($head =~ /^POST /) {
            open my $out, '>>', $collected or die "$collected: $!";
            $body =~ s/\n/ /g;
            print $out "$body\n";
            close $out;
            $text = "{}";

        } else {
            $text = -e $collected
                    ? do { local $/; open my $in, '<', $collected; <$in> }
                    : '';
        }

    } elsif ($path =~ m{^/delay/(\d+)}) {
        sleep($1 / 1000);
        $text = "delayed $1\n";

    } elsif ($path =~ m{^/status/(\d+)}) {
        ($status, $text) = ($1, "status $1\n");
    }

    print $client "HTTP/1.1 $status Backend\r\n"
                  . "Content-Type: text/plain\r\n"
                  . 'Content-Length: ' . length($text) . "\r\n"
                  . "Connection: close\r\n\r\n$text";
    close $client;
}

END {
    # keep the test's own exit status
    local $?;

    if ($server_pid) {
        kill 'KILL', -$server_pid;
        waitpid $server_pid, 0;
        unlink $collected;
    }
}

1;
