package Qbsync::Sender;

# A Stripe-like sender for the load tests: delivers signed events to a
# webhook from several processes at once and, like Stripe, delivers again
# whatever was not answered 2xx, after a pause, until it is or the
# deadline passes.  Returns what happened to each event.
#
#   my $result = Qbsync::Sender::deliver(
#       url => $nginx->url('/stripe/qbsync'), events => \@bodies,
#       senders => 12, pause => 0.5, deadline => 60, duplicates => 0.1);
#   $result->{answers}{$event_id}   the last status
#   $result->{bodies}{$event_id}    the body of its last 2xx answer
#   $result->{statuses}{503}        deliveries answered 503, over all
#   $result->{deliveries}           deliveries made in all
#   $result->{duplicates}           events delivered again after a 2xx
#
# The pause before a redelivery doubles with each one, up to 8 times the
# first; duplicates is the chance that an event answered 2xx is sent once
# more a little later, as Stripe sometimes does.

use strict;
use warnings;

use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);

use Qbsync::Stripe;

my $json = JSON::PP->new->utf8(1)->canonical(1);

sub deliver {
    my (%o) = @_;

    my @events = @{ $o{events} };
    my $senders = $o{senders} // 8;
    my $pause = $o{pause} // 0.5;
    my $deadline = time + ($o{deadline} // 60);
    my (@pids, @readers);

    for my $k (0 .. $senders - 1) {
        pipe(my $reader, my $writer) or die "sender: pipe: $!";
        my $pid = fork // die "sender: fork: $!";

        if ($pid == 0) {
            close $reader;
            my @mine = @events[grep { $_ % $senders == $k } 0 .. $#events];
            srand($$ ^ time);
            my $report = send_all(\@mine, $o{url}, $pause, $deadline,
                                  $o{duplicates} // 0);
            print $writer $json->encode($report);
            close $writer;
            POSIX::_exit(0);
        }

        close $writer;
        push @pids, $pid;
        push @readers, $reader;
    }

    my %result = (answers => {}, bodies => {}, statuses => {},
                  deliveries => 0, duplicates => 0);

    for my $reader (@readers) {
        local $/;
        my $text = <$reader>;
        close $reader;
        next unless $text;
        my $report = $json->decode($text);
        %{ $result{answers} } = (%{ $result{answers} }, %{ $report->{answers} });
        %{ $result{bodies} } = (%{ $result{bodies} }, %{ $report->{bodies} });
        $result{statuses}{$_} += $report->{statuses}{$_}
            for keys %{ $report->{statuses} };
        $result{$_} += $report->{$_} for qw(deliveries duplicates);
    }

    waitpid $_, 0 for @pids;

    return \%result;
}

sub send_all {
    my ($events, $url, $pause, $deadline, $duplicates) = @_;

    my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
    my %report = (answers => {}, bodies => {}, statuses => {},
                  deliveries => 0, duplicates => 0);
    my %tries;

    # [body, not before, a duplicate]
    my @queue = map { [$_, 0, 0] } @$events;

    while (@queue && time < $deadline) {
        my ($body, $not_before, $duplicate) = @{ shift @queue };

        if ($not_before > time) {
            # everything left waits for a redelivery: sleep until the first
            sleep($not_before - time);
        }

        my ($id) = $body =~ /^\{"id":"([^"]+)"/;
        my $response = $http->post($url, {
            headers => { 'Content-Type' => 'application/json',
                         'Stripe-Signature' => Qbsync::Stripe::signature($body) },
            content => $body,
        });

        $report{deliveries}++;
        $report{statuses}{ $response->{status} }++;
        $report{answers}{$id} = $response->{status};

        if ($response->{status} !~ /^2/) {
            my $wait = $pause * 2 ** ($tries{$id}++ < 3 ? $tries{$id} - 1 : 3);
            push @queue, [$body, time + $wait, $duplicate];
            @queue = sort { $a->[1] <=> $b->[1] } @queue;
            next;
        }

        $report{bodies}{$id} = $response->{content} unless $duplicate;

        if (!$duplicate && rand() < $duplicates) {
            $report{duplicates}++;
            push @queue, [$body, time + rand($pause * 4), 1];
            @queue = sort { $a->[1] <=> $b->[1] } @queue;
        }
    }

    return \%report;
}

1;
