package Qbsync::Sender;

# A Stripe-like sender for the load tests: delivers signed events to a
# webhook from several processes at once and, like Stripe, delivers again
# whatever was not answered 2xx, after a pause, until it is or the
# deadline passes.  Returns what happened to each event.
#
#   my $result = Qbsync::Sender::deliver(
#       url => $nginx->url('/stripe/qbsync'), events => \@bodies,
#       senders => 12, pause => 0.5, deadline => 60);
#   $result->{answers}{$event_id}   the last status
#   $result->{statuses}{503}        deliveries answered 503, over all
#   $result->{deliveries}           deliveries made in all

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
            my $report = send_all(\@mine, $o{url}, $pause, $deadline,
                                  $o{after});
            print $writer $json->encode($report);
            close $writer;
            POSIX::_exit(0);
        }

        close $writer;
        push @pids, $pid;
        push @readers, $reader;
    }

    my %result = (answers => {}, statuses => {}, deliveries => 0);

    for my $reader (@readers) {
        local $/;
        my $text = <$reader>;
        close $reader;
        next unless $text;
        my $report = $json->decode($text);
        %{ $result{answers} } = (%{ $result{answers} }, %{ $report->{answers} });
        $result{statuses}{$_} += $report->{statuses}{$_}
            for keys %{ $report->{statuses} };
        $result{deliveries} += $report->{deliveries};
    }

    waitpid $_, 0 for @pids;

    return \%result;
}

sub send_all {
    my ($events, $url, $pause, $deadline, $after) = @_;

    my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
    my %report = (answers => {}, statuses => {}, deliveries => 0);
    my @queue = map { [$_, 0] } @$events;

    while (@queue && time < $deadline) {
        my ($body, $not_before) = @{ shift @queue };

        if ($not_before > time) {
            # everything left waits for its redelivery: sleep until the first
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
            push @queue, [$body, time + $pause];
            @queue = sort { $a->[1] <=> $b->[1] } @queue;
        }

        $after->($id, $response) if $after;
    }

    return \%report;
}

1;
