package Qbsync::Nginx;

# Debian's nginx with the module, outside Test::Nginx, for the tests that
# need what a Test::Nginx block cannot do: many deliveries at once from
# several processes, a worker killed, a reload in the middle of a run
# (t/load/).  Each instance has its own prefix directory, removed at the
# end unless QBSYNC_KEEP=1.
#
#   my $nginx = Qbsync::Nginx->start(workers => 2, http => $text);
#   $nginx->url('/stripe/qbsync');   $nginx->workers;   $nginx->reload;
#   $nginx->error_log;               $nginx->stop;
#   $nginx->deliver($event_body);    # signed, to /stripe/qbsync
#
#   my $nginx = Qbsync::Nginx->webhook(sim => $port, directives => $text);
#
# webhook() starts the sync as the tests configure it: /stripe/qbsync
# against the simulator on $port, through an upstream with keepalive, the
# token file and client secret in place; $text adds directives to the
# webhook location, read_timeout sets the proxy's (default 5s), and
# dead_letter => 1 adds the dead-letter file (state/dead-letter.jsonl in
# the prefix) and its admin location /qbsync/dead-letter; batch => 1 adds
# the batch location /qbsync/batch.  The QuickBooks settings are the
# server's, as the docs put them; server => $text adds directives there,
# http => $text at the http level.
#
# $text is the inside of the http block; __PREFIX__ in it becomes the
# prefix directory and __PORT__ the port nginx listens on.

use strict;
use warnings;

use Cwd ();
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Spec;
use File::Temp ();
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);

sub top {
    return Cwd::abs_path(File::Spec->catdir(dirname(__FILE__),
                                            (File::Spec->updir) x 3));
}

sub free_port {
    my $socket = IO::Socket::INET->new(Listen => 1,
                                       LocalAddr => '127.0.0.1')
        or die "nginx: no free port: $!";
    my $port = $socket->sockport;
    close $socket;
    return $port;
}

sub start {
    my ($class, %o) = @_;

    my $self = bless {
        dir     => File::Temp::tempdir('qbsync-nginx-XXXXXX', TMPDIR => 1),
        port    => free_port(),
        workers => $o{workers} // 2,
        owner   => $$,
    }, $class;

    my $dir = $self->{dir};
    make_path("$dir/logs", "$dir/conf", "$dir/html", "$dir/tokens",
              "$dir/state");
    chmod 0755, $dir;

    my $module = $ENV{TEST_NGINX_LOAD_MODULES}
                 // top() . '/build/ngx_http_qbsync_module.so';

    (my $http = $o{http}) =~ s/__PREFIX__/$dir/g;
    $http =~ s/__PORT__/$self->{port}/g;

    $self->write('conf/nginx.conf', <<"_EOC_");
load_module $module;
pid $dir/logs/nginx.pid;
error_log $dir/logs/error.log info;
worker_processes $self->{workers};
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
$http
}
_EOC_

    for my $file (keys %{ $o{files} // {} }) {
        $self->write($file, $o{files}{$file});
    }

    # the workers rotate the token file and append dead letters: they
    # must own those files and their directories
    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('nobody');
        chown $uid, $gid, "$dir/tokens", "$dir/state", glob("$dir/tokens/*");
    }

    my $binary = $ENV{TEST_NGINX_BINARY} // 'nginx';
    system($binary, '-p', $dir, '-c', "$dir/conf/nginx.conf") == 0
        or die "nginx: failed to start:\n" . $self->error_log;

    $self->wait_for(sub { -s "$dir/logs/nginx.pid" && $self->workers
                          == $self->{workers} }, 'its workers');

    return $self;
}

sub webhook {
    my ($class, %o) = @_;

    my $sim = $o{sim};
    my $directives = $o{directives} // '';
    my $zone = $o{zone} // '8m';
    my $read_timeout = $o{read_timeout} // '5s';
    my $secret = $Qbsync::Stripe::Secret // 'whsec_qbsync_test_secret';
    my ($dead_letter, $admin) = ('', '');
    my $batch = '';
    my $server = $o{server} // '';
    my $http = $o{http} // '';

    if ($o{dead_letter}) {
        $dead_letter = "    qbsync_dead_letter __PREFIX__/state/dead-letter.jsonl;\n";
        $admin = "        location = /qbsync/dead-letter {\n"
                 . "            qbsync_dead_letter_admin;\n        }\n";
    }

    if ($o{batch}) {
        $batch = "        location = /qbsync/batch {\n"
                 . "            qbsync_batch on;\n"
                 . "            client_max_body_size 64m;\n"
                 . "        }\n";
    }

    return $class->start(workers => $o{workers} // 2, files => {
        'qbo.secret'         => "qbsync-client-secret\n",
        'tokens/tokens.json' => '{"refresh_token":"rt-initial"}',
    }, http => <<"_EOC_");
    qbsync_zone qbsync:$zone;
$dead_letter$http
    upstream quickbooks { server 127.0.0.1:$sim; keepalive 16; }

    server {
        listen 127.0.0.1:__PORT__;

        qbsync_quickbooks /_qbsync/qbo realm=9341453201 minorversion=75;
        qbsync_oauth /_qbsync/oauth client_id=qbsync-client
                     client_secret_file=__PREFIX__/qbo.secret
                     token_file=__PREFIX__/tokens/tokens.json;
        qbsync_item type=Service income_account=79 expense_account=80
                    currency=usd;
$server
        location = /stripe/qbsync {
            qbsync_webhook on;
            qbsync_webhook_secret $secret;
$directives
        }

        location /_qbsync/qbo/ {
            internal;
            proxy_pass http://quickbooks/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout $read_timeout;
            subrequest_output_buffer_size 1m;
        }

        location = /_qbsync/oauth {
            internal;
            proxy_pass http://127.0.0.1:$sim/oauth2/v1/tokens/bearer;
        }
$admin$batch    }
_EOC_
}

sub write {
    my ($self, $file, $text) = @_;

    my $path = "$self->{dir}/$file";
    open my $out, '>', $path or die "$path: $!";
    print $out $text;
    close $out;
    chmod 0600, $path if $file =~ /secret|token/;
}

# POSTs a Stripe event to /stripe/qbsync, signed as Stripe signs it; the
# HTTP::Tiny answer
sub deliver {
    my ($self, $body) = @_;

    require HTTP::Tiny;
    require Qbsync::Stripe;

    my %headers = map { /^([^:]+):\s*(.*)$/ ? ($1 => $2) : () }
                  split /\n/, Qbsync::Stripe::headers($body);

    return HTTP::Tiny->new(timeout => 30)->request(
        POST => $self->url('/stripe/qbsync'),
        { headers => \%headers, content => $body });
}

sub dir  { $_[0]{dir} }
sub port { $_[0]{port} }
sub url  { "http://127.0.0.1:$_[0]{port}" . ($_[1] // '') }

sub master {
    my ($self) = @_;
    open my $in, '<', "$self->{dir}/logs/nginx.pid" or return;
    my $pid = <$in>;
    chomp $pid if defined $pid;
    return $pid;
}

# the pids of the master's children that are workers now
sub workers {
    my ($self) = @_;
    my $master = $self->master or return;
    my @pids;

    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $in, '<', $stat or next;
        my $line = <$in> // next;
        close $in;
        # pid (comm) state ppid ...
        next unless $line =~ /^(\d+) \((.*)\) \S (\d+)/;
        my ($pid, $parent) = ($1, $3);
        next unless $parent == $master;
        my $cmdline = do {
            local $/;
            open my $c, '<', "/proc/$pid/cmdline" or next;
            <$c> // '';
        };
        push @pids, $pid if $cmdline =~ /worker process/
                            && $cmdline !~ /shutting down/;
    }

    return wantarray ? @pids : scalar @pids;
}

sub reload {
    my ($self) = @_;
    my @old = $self->workers;
    kill 'HUP', $self->master;
    my %old = map { $_ => 1 } @old;
    $self->wait_for(sub { my @now = $self->workers;
                          @now == $self->{workers} && !grep { $old{$_} } @now },
                    'new workers after the reload');
}

sub error_log {
    my ($self) = @_;
    open my $in, '<', "$self->{dir}/logs/error.log" or return '';
    local $/;
    return <$in> // '';
}

sub wait_for {
    my ($self, $done, $what, $seconds) = @_;
    my $deadline = time + ($seconds // 10);
    until ($done->()) {
        die "nginx: no $what after ${\ ($seconds // 10)}s\n" . $self->error_log
            if time > $deadline;
        sleep 0.05;
    }
}

sub stop {
    my ($self) = @_;
    return if $self->{stopped} || $$ != $self->{owner};
    $self->{stopped} = 1;

    my $master = $self->master;
    if ($master && kill 0, $master) {
        kill 'TERM', $master;
        my $deadline = time + 5;
        sleep 0.05 while kill(0, $master) && time < $deadline;
    }

    remove_tree($self->{dir}) unless $ENV{QBSYNC_KEEP};
}

sub DESTROY { $_[0]->stop }

1;
