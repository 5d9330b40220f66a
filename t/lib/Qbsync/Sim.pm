package Qbsync::Sim;

# The QuickBooks Online simulator (t/sim/qbo_sim.py) for the tests, the
# demo and the benchmarks, started from the .t process the way
# Qbsync::Backend starts its backend:
#
#   use Qbsync::Sim;
#   Qbsync::Sim::start();                  # exports TEST_NGINX_SIM_PORT
#   Qbsync::Sim::control(POST => '/_sim/reset', { access_token => 'at-1' });
#   my $state = Qbsync::Sim::control(GET => '/_sim/state');
#
# start() takes optional settings: state_file => F, verbose => 1 (each
# request logged to stderr; also QBSYNC_SIM_VERBOSE=1). QBSYNC_SIM_PYTHON
# names another interpreter than /usr/bin/python3 (or python3 from PATH).
# The simulator runs in its own process group, killed when the process
# that started it ends.

use strict;
use warnings;

use Cwd ();
use File::Basename qw(dirname);
use File::Spec;
use File::Temp ();
use HTTP::Tiny;
use IO::Select;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);

our $StartTimeout = 10;

my ($sim_pid, $owner_pid, $stdout, $stderr_file, $http);

my $json = JSON::PP->new->utf8(1)->canonical(1)->allow_nonref(1);

sub script {
    my $top = Cwd::abs_path(File::Spec->catdir(
        dirname(File::Spec->rel2abs(__FILE__)), File::Spec->updir,
        File::Spec->updir));
    return File::Spec->catfile($top, 'sim', 'qbo_sim.py');
}

# Debian's own python3 when there is one: a version manager's python3 shim
# first in PATH (pyenv's) costs more to start than the simulator itself.
sub python {
    return $ENV{QBSYNC_SIM_PYTHON} if $ENV{QBSYNC_SIM_PYTHON};
    return -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';
}

sub port {
    return $ENV{TEST_NGINX_SIM_PORT};
}

sub pid {
    return $sim_pid;
}

sub start {
    my (%opt) = @_;

    return port() if $sim_pid;

    my $verbose = $opt{verbose} || $ENV{QBSYNC_SIM_VERBOSE};
    my @command = (python(), script(), '--port', '0');
    push @command, '--state-file', $opt{state_file} if $opt{state_file};
    push @command, '--verbose' if $verbose;

    $stderr_file = File::Temp->new(TEMPLATE => 'qbo-sim-XXXXXX',
                                   TMPDIR => 1);

    pipe($stdout, my $writer) or die "sim: pipe: $!";

    $sim_pid = fork;
    die "sim: fork: $!" unless defined $sim_pid;

    if ($sim_pid == 0) {
        POSIX::setpgid(0, 0);
        close $stdout;
        open STDOUT, '>&', $writer or POSIX::_exit(126);
        if (!$verbose) {
            open STDERR, '>&', $stderr_file or POSIX::_exit(126);
        }
        exec @command or print STDERR "sim: exec $command[0]: $!\n";
        POSIX::_exit(127);
    }

    $owner_pid = $$;
    POSIX::setpgid($sim_pid, $sim_pid);
    close $writer;

    my ($port, $failure) = read_port();

    if (!defined $port) {
        stop();
        die "sim: @command: $failure\n" . stderr_text();
    }

    $ENV{TEST_NGINX_SIM_PORT} = $port;

    return $port;
}

# The first line of the simulator's stdout is "PORT <n>"; returns the
# port, or undef and why not.
sub read_port {
    my $select = IO::Select->new($stdout);
    my $deadline = time + $StartTimeout;
    my $line = '';

    while ($line !~ /\n/) {
        my $left = $deadline - time;
        if ($left <= 0 || !$select->can_read($left)) {
            return (undef, "no port after ${StartTimeout}s");
        }
        my $n = sysread($stdout, $line, 256, length $line);
        return (undef, 'exited before printing its port') if !$n;
    }

    return $line =~ /^PORT (\d+)\r?\n/ ? ($1)
                                        : (undef, "printed \"$line\"");
}

sub stderr_text {
    return '' unless $stderr_file;
    open my $in, '<', $stderr_file->filename or return '';
    local $/;
    my $text = <$in> // '';
    close $in;
    return $text;
}

# Ask the control API (or any endpoint) and decode the JSON answer; in list
# context also the HTTP status. Dies if the simulator cannot be reached or
# does not answer JSON.
sub control {
    my ($method, $path, $data) = @_;

    my $port = port() or die "sim: not started";

    # never through a proxy from the environment
    $http //= HTTP::Tiny->new(timeout => 60, proxy => undef,
                              http_proxy => undef, https_proxy => undef);

    my %request = (headers => { Accept => 'application/json' });

    if (defined $data) {
        $request{content} = $json->encode($data);
        $request{headers}{'Content-Type'} = 'application/json';
    }

    my $res = $http->request($method, "http://127.0.0.1:$port$path",
                             \%request);

    if ($res->{status} == 599) {
        die "sim: $method $path: $res->{content}";
    }

    my $decoded = eval { $json->decode($res->{content}) };
    die "sim: $method $path: $res->{status}, not JSON: $res->{content}"
        unless defined $decoded;

    return wantarray ? ($decoded, $res->{status}) : $decoded;
}

sub stop {
    return unless $sim_pid;

    kill 'TERM', -$sim_pid;

    my $deadline = time + 5;
    while (waitpid($sim_pid, POSIX::WNOHANG()) == 0) {
        if (time > $deadline) {
            kill 'KILL', -$sim_pid;
            waitpid $sim_pid, 0;
            last;
        }
        sleep 0.02;
    }

    close $stdout if $stdout;
    undef $sim_pid;
    undef $http;
}

END {
    # keep the test's own exit status; only the process that started the
    # simulator stops it (Test::Nginx forks, and children run END blocks)
    local $?;

    return unless $sim_pid && $owner_pid && $$ == $owner_pid;

    stop();

    # the simulator is silent unless it has a bug: show the traceback
    my $text = stderr_text();
    if ($text ne '') {
        $text =~ s/^/# qbo-sim: /mg;
        print STDERR $text;
    }
}

1;
