package Test::Nginx::Util;

# Fallback runner for Test::Nginx::Socket style .t files: settings, the
# generated nginx.conf, the server root and the nginx process itself.
#
# Written for this project from the documented and observed behaviour of
# openresty/test-nginx; it shares no code with it.  It is only put on @INC
# when the real Test::Nginx is not installed (see t/lib/fallback/README.md).
#
# The variable names below are the ones the real library uses, so helper
# code that reads e.g. $Test::Nginx::Util::ServerPort works with both.

use v5.36;
use Exporter 'import';
use Carp qw(croak);
use Config ();
use File::Path qw(make_path remove_tree);
use File::Find ();
use File::Spec ();
use IO::Socket::INET ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

use Test::Nginx::Fallback::HTTP ();

our @EXPORT = qw(
    bail_out parse_time parse_headers trim
    repeat_each workers worker_connections master_on master_off
    master_process_enabled log_level no_shuffle no_long_string
    no_root_location use_hup timeout server_addr server_name server_port
    server_port_for_client server_root html_dir config_preamble
    env_to_nginx add_block_preprocessor add_cleanup_handler
    check_accum_error_log no_nginx_manager sleep_time verbose
    error_log_data access_log_data get_pid_from_pidfile is_running
    $ServerPort $ServerPortForClient $ServerAddr $ServerName $RepeatEach
    $NoLongString $ServRoot $PidFile $ConfFile $NginxVersion
);

# ---------------------------------------------------------------------------
# Settings (environment first, then the functions a .t file calls)
# ---------------------------------------------------------------------------

our $Verbose              = $ENV{TEST_NGINX_VERBOSE};
our $NginxBinary          = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Workers              = 1;
our $WorkerConnections    = 64;
our $LogLevel             = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $ServerAddr           = '127.0.0.1';
our $ServerName           = 'localhost';
our $ServerPort           = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient  = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $Randomize            = $ENV{TEST_NGINX_RANDOMIZE};
our $UseHup               = $ENV{TEST_NGINX_USE_HUP};
our $UseValgrind          = $ENV{TEST_NGINX_USE_VALGRIND};
our $ValgrindSupp         = $ENV{TEST_NGINX_VALGRIND_SUPP};
our $NoShuffle            = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoNginxManager       = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $RepeatEach           = 1;
our $NoLongString;
our $NoRootLocation       = 0;
our $Timeout              = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep       = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $ForceRestartOnTest   = $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} // 1;
our $LoadModules          = $ENV{TEST_NGINX_LOAD_MODULES};
our $EventType            = $ENV{TEST_NGINX_EVENT_TYPE};
our $WorkerUser           = $ENV{TEST_NGINX_WORKER_USER};
our $CheckAccumErrLog     = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $ConfigPreamble       = '';
our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;
our ($NginxVersion, $NginxRawVersion);
our $ErrLogFilePos = 0;
our $ConfigVersion;        # what /ver answers in HUP mode
our $NginxPid;             # the nginx we started (master or single process)
our $InSubprocess;

if (defined $WorkerUser && $WorkerUser !~ /^\w+(?:\s+\w+)?$/) {
    die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n";
}

srand $$;

if ($Randomize) {
    $ServerPort = gen_rand_port(1000)
        // die "Cannot find an available listening port number\n";
    $ServerPortForClient = $ServerPort;
}

our $ServRoot = $Randomize
    ? File::Spec->rel2abs("t/servroot_$ServerPort")
    : ($ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot'));
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";

# prctl(2) on the usual Linux architectures
my $SysPrctl = $^O ne 'linux' ? undef
             : $Config::Config{archname} =~ /^x86_64/ ? 157
             : $Config::Config{archname} =~ /^aarch64/ ? 167
             : undef;

# Files of ours that live in the logs directory: the HUP cleanup keeps them.
my $StderrFile = "$LogDir/nginx.stderr";
my %ValgrindSeen;          # valgrind log file => bytes already reported

# ---------------------------------------------------------------------------
# Functions exported to .t files (prototypes as in the real library, so the
# same calls parse the same way)
# ---------------------------------------------------------------------------

sub repeat_each :prototype(@) (@n)    { $RepeatEach = shift @n if @n; return $RepeatEach }
sub workers :prototype(@) (@n)        { return @n ? ($Workers = $n[0]) : $Workers }
sub worker_connections :prototype(@) (@n) {
    return @n ? ($WorkerConnections = $n[0]) : $WorkerConnections;
}
sub log_level :prototype(@) (@l)      { return @l ? ($LogLevel = $l[0]) : $LogLevel }
sub master_on :prototype()            { $MasterProcessEnabled = 'on' }
sub master_off :prototype()           { $MasterProcessEnabled = 'off' }
sub master_process_enabled :prototype(@) (@on) {
    return $MasterProcessEnabled unless @on;
    $MasterProcessEnabled = $on[0] ? 'on' : 'off';
}
sub no_shuffle :prototype()           { $NoShuffle = 1 }
sub no_long_string :prototype()       { $NoLongString = 1 }
sub no_root_location :prototype()     { $NoRootLocation = 1 }
sub no_nginx_manager :prototype()     { $NoNginxManager = 1 }
sub use_hup :prototype()              { $UseHup = 1 }
sub check_accum_error_log :prototype() { $CheckAccumErrLog = 1 }
sub timeout :prototype(@) (@t)        { return @t ? ($Timeout = $t[0]) : $Timeout }
sub server_addr :prototype(@) (@a)    { return @a ? ($ServerAddr = $a[0]) : $ServerAddr }
sub server_name :prototype(@) (@n)    { return @n ? ($ServerName = $n[0]) : $ServerName }
sub server_port :prototype(@) (@p)    { return @p ? ($ServerPort = $p[0]) : $ServerPort }
sub server_port_for_client :prototype(@) (@p) {
    return @p ? ($ServerPortForClient = $p[0]) : $ServerPortForClient;
}
sub server_root :prototype()          { return $ServRoot }
sub html_dir :prototype()             { return $HtmlDir }
sub config_preamble :prototype($) ($c) { $ConfigPreamble = $c }
sub sleep_time ()                     { return $TestNginxSleep }
sub verbose ()                        { return $Verbose }

sub env_to_nginx :prototype(@) (@vars) {
    croak "env_to_nginx: no arguments specified" unless @vars;
    for my $v (@vars) {
        croak "env_to_nginx: bad argument value: $v\n"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

# Preprocessors added later run first, as in the real library.
sub add_block_preprocessor :prototype(&) ($code) { unshift @BlockPreprocessors, $code }
sub add_cleanup_handler :prototype($) ($code)    { unshift @CleanupHandlers, $code }

sub bail_out :prototype(@) (@msg) {
    cleanup();
    Test::More::BAIL_OUT(join '', @msg);
}

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

# "10ms" -> 0.01, "2s" -> 2, "1.5" -> 1.5
sub parse_time ($tm) {
    return $tm unless defined $tm;
    if ($tm =~ s/([^_a-zA-Z])ms$/$1/) {
        return $tm / 1000;
    }
    $tm =~ s/([^_a-zA-Z])s$/$1/;
    return $tm;
}

sub trim ($s) {
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /g;
    $s =~ s/\s{2,}/ /g;
    return $s;
}

# "Name: value" lines -> { Name => value }; "!Name" -> { Name => undef }
sub parse_headers ($text) {
    my %headers;
    for my $line (split /\n/, $text) {
        $line =~ s/^\s+|\s+$//g;
        if ($line =~ s/^!\s*//) {
            $headers{$line} = undef;
            next;
        }
        my ($key, $val) = split /\s*:\s*/, $line, 2;
        next unless defined $key;
        $headers{$key} = $val;
    }
    return \%headers;
}

sub is_running ($pid) { return kill 0, $pid }

sub gen_rand_port ($tries = 1000, $used = {}) {
    for (1 .. $tries) {
        my $port = int(rand 63550) + 1985;
        next if $used->{$port};
        my $sock = IO::Socket::INET->new(
            LocalAddr => $ServerAddr,
            LocalPort => $port,
            Proto     => 'tcp',
        );
        next unless $sock;
        close $sock;
        return $port;
    }
    return undef;
}

# Replace $TEST_NGINX_FOO by $ENV{TEST_NGINX_FOO}; $TEST_NGINX_RAND_PORT_N
# by a free port, the same one for the whole block.
sub expand_env_in_text ($text, $name, $rand_ports) {
    return undef unless defined $text;
    my %used = ($ServerPort => 1, map { $_ => 1 } values %$rand_ports);
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            $rand_ports->{$var} //= do {
                my $p = gen_rand_port(1000, \%used)
                    // bail_out("$name - Cannot find an available listening port number for $var.\n");
                $used{$p} = 1;
                $p;
            };
        } else {
            bail_out("$name - No environment $var defined.\n")
                unless defined $ENV{$var};
            $ENV{$var};
        }
    }ge;
    return $text;
}

sub get_nginx_version () {
    my $out = `$NginxBinary -V 2>&1`;
    if (!defined $out || $? != 0) {
        bail_out("Failed to get the version of the Nginx in PATH: " . ($out // ''));
    }
    if ($out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}) {
        $NginxRawVersion = "$1.$2.$3";
        return sprintf "%d.%03d%03d", $1, $2, $3;
    }
    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

sub get_pid_from_pidfile ($name = '') {
    open my $in, '<', $PidFile
        or bail_out("$name - Failed to open the pid file $PidFile for reading: $!");
    my $pid = do { local $/; <$in> } // '';
    chomp $pid;
    return $pid;
}

sub slurp ($file) {
    open my $in, '<', $file or return undef;
    local $/;
    return scalar <$in>;
}

# ---------------------------------------------------------------------------
# Error and access logs
# ---------------------------------------------------------------------------

# The lines of error.log written since the last call in this block (all of
# them under check_accum_error_log).  The short sleep lets nginx finish the
# log lines it writes after closing the connection.
sub error_log_data () {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogFilePos, 0 if !$CheckAccumErrLog && $ErrLogFilePos > 0;
    my @lines = <$in>;
    $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
    return \@lines;
}

sub access_log_data () {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or die "open $AccLogFile failed: $!";
    return [<$in>];
}

# ---------------------------------------------------------------------------
# Server root, user files, nginx.conf
# ---------------------------------------------------------------------------

sub setup_server_root ($keep_running_files = 0) {
    if (-d $ServRoot) {
        remove_tree($ConfDir, glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));
        if ($keep_running_files) {
            # HUP mode: nginx keeps running, so keep its pid file and sockets.
            File::Find::find({ no_chdir => 1, wanted => sub {
                return if -d $_;
                return if /(?:\bnginx\.pid|\.sock|\.crt|\.key)$/;
                return if $_ eq $StderrFile || m{/valgrind\.\d+\.log$};
                unlink $_ or warn "Failed to remove $_: $!\n";
            } }, $ServRoot);
        } else {
            remove_tree($HtmlDir, $LogDir);
        }
    }
    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        next if -d $dir;
        mkdir $dir or bail_out("Failed to do mkdir $dir: $!\n");
    }
    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("Can't open $HtmlDir/index.html for writing: $!\n");
    print $out '<html><head><title>It works!</title></head><body>It works!</body></html>';
    close $out;
}

# --- user_files
# >>> name [touch -t date]
# content...
# or (eval) [ [name, content, date], ... ]
sub write_user_files ($block, $rand_ports) {
    my $name = $block->name;
    my $files = $block->user_files or return;

    if (!ref $files) {
        my @list;
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, undef, $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type: ", ref $files,
                 ", only scalar or ARRAY are accepted");
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{^(.*)/} && !-d $1) {
            make_path($1) or bail_out("$name - Cannot create directory $1");
        }
        $body = expand_env_in_text($body // '', $name, $rand_ports);
        open my $out, '>:raw', $path
            or bail_out("$name - Cannot open $path for writing: $!\n");
        print $out $body;
        close $out;
        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - Failed to run touch -t '$date' $path\n");
        }
    }
}

sub write_config_file ($block, $config, $rand_ports) {
    my $name = $block->name;

    master_on() if $UseHup;    # nginx reloads only with a master process

    my $http_config = expand_env_in_text(scalar($block->http_config), $name, $rand_ports) // '';
    my $main_config = $block->main_config // '';
    if ($LoadModules) {
        my @modules = map { "load_module $_;" } grep { length } split /\s+/, $LoadModules;
        $main_config .= join ' ', @modules;
    }
    $main_config = expand_env_in_text($main_config, $name, $rand_ports);
    my $post_main_config =
        expand_env_in_text(scalar($block->post_main_config), $name, $rand_ports) // '';
    my $server_name = $block->server_name // $ServerName;
    my $err_log_file = $block->error_log_file || $ErrLogFile;
    $config //= '';

    my $env = join '', map { my $v = /\s/ ? "'$_'" : $_; "env $v;\n" } @EnvToNginx;

    # Differences from the real template: "daemon off" (we run nginx as our
    # own child and reap it ourselves); the rest is the same.
    my $conf = <<"_EOC_";
worker_processes  $Workers;
daemon off;
master_process $MasterProcessEnabled;
error_log $err_log_file $LogLevel;
pid       $PidFile;
env MOCKEAGAIN_VERBOSE;
env MOCKEAGAIN;
env MOCKEAGAIN_WRITE_TIMEOUT_PATTERN;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env DYLD_INSERT_LIBRARIES;
env DYLD_FORCE_FLAT_NAMESPACE;
$env
$main_config

http {
    access_log $AccLogFile;

    default_type text/plain;
    keepalive_timeout  68;

$http_config

    server {
        listen          $ServerPort;
        server_name     '$server_name';

        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

_EOC_

    if (!$NoRootLocation) {
        $conf .= <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    }
    $conf .= "    }\n";

    if ($UseHup) {
        # Lets reload_nginx() see when the new configuration is live.
        $conf .= <<"_EOC_";
    server {
        listen          $ServerPort;
        server_name     'Test-Nginx';

        location = /ver {
            return 200 '$ConfigVersion';
        }
    }
_EOC_
    }

    $conf .= "}\n\n$post_main_config\n\nevents {\n    accept_mutex off;\n\n"
           . "    worker_connections  $WorkerConnections;\n";
    $conf .= "    use $EventType;\n" if $EventType;
    $conf .= "}\nenv ASAN_OPTIONS;\nenv MOCKNOEAGAIN_VERBOSE;\nenv MOCKNOEAGAIN;\n";
    if (defined $WorkerUser) {
        $conf .= "user $WorkerUser;\n";
    } elsif ($> == 0) {
        $conf .= "user root;\n";
    }

    open my $out, '>', $ConfFile or bail_out("Can't open $ConfFile for writing: $!\n");
    print $out $conf;
    close $out;
}

# ---------------------------------------------------------------------------
# The nginx process
# ---------------------------------------------------------------------------

sub nginx_command () {
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
    return @cmd unless $UseValgrind;

    my @vg = ('valgrind', '-q', '--num-callers=100', "--log-file=$LogDir/valgrind.%p.log");
    if ($UseValgrind =~ /^\d+$/) {
        push @vg, qw(--tool=memcheck --leak-check=full --show-possibly-lost=no
                     --gen-suppressions=all);
    } else {
        push @vg, split ' ', $UseValgrind;
    }
    for my $supp (split /[\s:]+/, $ValgrindSupp // '') {
        push @vg, "--suppressions=$supp" if length $supp;
    }
    push @vg, '--suppressions=valgrind.suppress' if -f 'valgrind.suppress';
    return (@vg, @cmd);
}

# Start nginx in the foreground as our child (so we can reap it at once).
# Returns (1) once it wrote its pid file, or (0, $wait_status, $why) when
# it exited or took too long.
sub start_nginx () {
    my @cmd = nginx_command();
    warn "starting: @cmd\n" if $Verbose;

    my $stderr_seen = -s $StderrFile || 0;
    my $pid = fork // bail_out("fork() failed: $!");
    if ($pid == 0) {
        $InSubprocess = 1;
        # Linux: nginx gets SIGTERM (fast shutdown) if this test dies,
        # unless it is to be kept running for a look afterwards.
        if ($SysPrctl && !$ENV{TEST_NGINX_NO_CLEAN}) {
            syscall($SysPrctl, 1, 15);    # prctl(PR_SET_PDEATHSIG, SIGTERM)
        }
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', $StderrFile;
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "failed to run $cmd[0]: $!\n";
        POSIX::_exit(127);
    }

    my @result = wait_for_pid_file($pid);
    echo_new_stderr($stderr_seen);
    return @result;
}

# nginx writes startup warnings and errors to stderr: show them as the real
# library does (it leaves nginx's stderr alone).
sub echo_new_stderr ($from) {
    my $text = slurp($StderrFile) // return;
    print STDERR substr($text, $from) if length $text > $from;
}

sub wait_for_pid_file ($pid) {
    my $deadline = time + ($UseValgrind ? 120 : 15);
    my $step = 0.001;
    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $status = $?;
            return (0, $status, "nginx exited with status " . ($status >> 8)
                               . ($status & 127 ? " (signal " . ($status & 127) . ")" : ''));
        }
        if (-s $PidFile && (slurp($PidFile) // '') =~ /^\s*(\d+)/ && $1 == $pid) {
            $NginxPid = $pid;
            return (1);
        }
        if (time > $deadline) {
            kill KILL => $pid;
            waitpid $pid, 0;
            return (0, -1, "nginx did not write its pid file in time");
        }
        sleep $step;
        $step = 0.02 if ($step *= 2) > 0.02;
    }
}

sub startup_diagnostics () {
    my $out = '';
    if (my $log = slurp($ErrLogFile)) {
        my @bad = grep { /\[(?:emerg|alert|crit|error)\]/ } split /^/, $log;
        @bad = @bad[-10 .. -1] if @bad > 10;
        $out .= "error.log:\n" . join('', @bad) if @bad;
    }
    return $out;
}

# Wait for a child of ours to exit, polling often (a few ms in the usual case).
sub wait_for_exit ($pid, $max) {
    my $deadline = time + $max;
    my $step = 0.001;
    while (time < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        return 1 if $r == $pid || $r == -1;
        sleep $step;
        $step = 0.02 if ($step *= 2) > 0.02;
    }
    return 0;
}

sub stop_nginx ($name = '') {
    my $pid = $NginxPid // return;
    undef $NginxPid;
    warn "stopping nginx $pid\n" if $Verbose;
    kill QUIT => $pid;
    if (!wait_for_exit($pid, $UseValgrind ? 120 : $Timeout)) {
        warn "$name - nginx $pid did not quit in time; killing it\n";
        kill KILL => $pid;
        waitpid $pid, 0;
    }
    unlink $PidFile;
}

# An nginx left running by an earlier, interrupted run in this server root.
sub kill_stale_nginx () {
    return if $NginxPid || !-f $PidFile;
    my $pid = (slurp($PidFile) // '') =~ /^\s*(\d+)/ ? $1 : undef;
    if ($pid && is_running($pid) && (slurp("/proc/$pid/cmdline") // '') =~ /nginx/) {
        kill QUIT => $pid;
        my $deadline = time + $Timeout;
        sleep 0.01 while is_running($pid) && time < $deadline;
        kill KILL => $pid if is_running($pid);
    }
    unlink $PidFile;
}

sub nginx_running () {
    return 0 unless $NginxPid;
    return 1 if waitpid($NginxPid, WNOHANG) == 0;
    undef $NginxPid;    # it exited (and is now reaped)
    unlink $PidFile;
    return 0;
}

# HUP mode: rewrite the files, make nginx reopen its logs and reload, and
# wait until the new configuration answers and the old workers stopped
# accepting.  The shared memory zones survive.
sub reload_nginx ($block, $config, $rand_ports) {
    my $pid = $NginxPid;

    setup_server_root(1);
    write_user_files($block, $rand_ports);
    write_config_file($block, $config, $rand_ports);

    my @old_workers = child_pids($pid);
    kill USR1 => $pid;    # reopen the log files we just removed
    sleep $TestNginxSleep;
    kill HUP => $pid;

    my $deadline = time + ($UseValgrind ? 60 : 10);
    my $new_since;
    while (time < $deadline) {
        if (config_version() eq $ConfigVersion) {
            $new_since //= time;
            # nginx lets old and new workers accept together for a while
            # (100 ms): done when the old ones are gone or closed their
            # listening sockets (they are "shutting down").
            return 1 if !grep { still_accepting($_) } @old_workers;
            # (under valgrind the process titles are not visible)
            return 1 if $UseValgrind && time - $new_since > 1;
        } else {
            my $log = slurp($ErrLogFile) // '';
            last if $log =~ /\[emerg\]/ || !nginx_running();
        }
        sleep 0.005;
    }
    return 0;
}

sub config_version () {
    my $raw = Test::Nginx::Fallback::HTTP::send_request(
        host    => $ServerAddr,
        port    => $ServerPort,
        packets => [{ value => "GET /ver HTTP/1.0\r\nHost: Test-Nginx\r\n\r\n" }],
        timeout => 2,
    )->{raw};
    return $raw =~ /\r\n\r\n(.*)\z/s ? $1 : '';
}

sub child_pids ($parent) {
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $text = slurp($stat) // next;
        push @pids, $1 if $text =~ /^(\d+) \(.*\) \S+ (\d+) /s && $2 == $parent;
    }
    return @pids;
}

# An old nginx worker that is running and not yet "shutting down".
sub still_accepting ($pid) {
    my $cmdline = slurp("/proc/$pid/cmdline") // return 0;
    return $cmdline =~ /worker process/ && $cmdline !~ /shutting down/;
}

# ---------------------------------------------------------------------------
# Valgrind reports
# ---------------------------------------------------------------------------

# The new "==PID==" lines valgrind wrote since the last call.
sub valgrind_report () {
    my $report = '';
    for my $file (sort glob "$LogDir/valgrind.*.log") {
        my $text = slurp($file) // next;
        my $seen = $ValgrindSeen{$file} // 0;
        $ValgrindSeen{$file} = length $text;
        next if length $text <= $seen;
        my $new = substr $text, $seen;
        $report .= $new if $new =~ /^==\d+==/m;
    }
    return $report;
}

sub forget_valgrind_logs () { %ValgrindSeen = () }

# ---------------------------------------------------------------------------
# Cleanup
# ---------------------------------------------------------------------------

sub cleanup () {
    $_->() for @CleanupHandlers;
    stop_nginx('cleanup') unless $ENV{TEST_NGINX_NO_CLEAN};
}

# Stop nginx when the test is interrupted (END blocks do not run then).
for my $sig (qw(INT TERM)) {
    next if defined $SIG{$sig} && $SIG{$sig} ne 'DEFAULT';
    $SIG{$sig} = sub ($name, @) {
        return if $InSubprocess;
        stop_nginx("SIG$name");
        exit 1;    # runs the END blocks
    };
}

END {
    return if $InSubprocess;
    local $?;    # keep Test::Builder's exit code
    cleanup();
    if ($Randomize && !$ENV{TEST_NGINX_NO_CLEAN}
        && -d $ServRoot && $ServRoot =~ m{/t/servroot_\d+$})
    {
        remove_tree($ServRoot);
    }
}

1;
