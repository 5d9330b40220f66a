package Test::Nginx::Socket;

# Fallback for the real Test::Nginx::Socket (openresty/test-nginx), used
# only when that one is not installed.  It runs the same .t files with the
# same sections and the same number of subtests per section; see
# t/lib/fallback/README.md for what it supports and how it differs.
# Written for this project; it shares no code with test-nginx.

use v5.36;

# Makes this package a Test::Base subclass (blocks, filters, --- ONLY/SKIP)
# and imports plan, is, like, pass, fail, skip, diag... like the real one.
use Test::Base -base;

use Digest::MD5 ();
use Digest::SHA ();
use Encode ();
use HTTP::Response ();
use List::Util qw(min shuffle);
use Scalar::Util qw(looks_like_number);
use Test::LongString ();
use Time::HiRes qw(sleep);

use Test::Nginx::Util;
use Test::Nginx::Fallback::HTTP ();

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test
    repeat_each config_preamble worker_connections master_process_enabled
    no_long_string workers master_on master_off
    log_level no_shuffle no_root_location use_hup
    server_name server_addr server_root html_dir server_port server_port_for_client
    timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_cleanup_handler add_response_body_check
);

our @ResponseBodyChecks;
my $PrevConfig;
my $FirstBlock = 1;

sub add_response_body_check :prototype($) ($code) { push @ResponseBodyChecks, $code }

# is() that honours no_long_string() and accepts a qr// as "expected".
sub is_str :prototype(@) ($got, $expected, $desc = undef) {
    return like($got, $expected, $desc) if ref $expected eq 'Regexp';
    return is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

# ---------------------------------------------------------------------------
# Running the blocks
# ---------------------------------------------------------------------------

sub run_tests :prototype() () {
    $Test::Nginx::Util::NginxVersion = Test::Nginx::Util::get_nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $Test::Nginx::Util::NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @Test::Nginx::Util::BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
    }

    if ($Test::Nginx::Util::UseValgrind && !$ENV{TEST_NGINX_NO_CLEAN}) {
        # The leak report comes when nginx exits.
        Test::Nginx::Util::stop_nginx('run_tests');
        check_valgrind("$0 (nginx exit)");
    }
}

sub run_test ($block) {
    return if defined $block->SKIP;

    my $name = $block->name;
    warn "WARNING: $name - \"--- request_body\" is not a Test::Nginx section and is "
         . "ignored (as by the real one): put the body after the request line\n"
        if defined $block->request_body;

    my $first_time = $FirstBlock;
    $FirstBlock = 0;

    my $rand_ports = {};
    my $config = Test::Nginx::Util::expand_env_in_text(scalar($block->config), $name, $rand_ports);

    local $Test::Nginx::Util::LogLevel = $block->log_level || $Test::Nginx::Util::LogLevel;
    local $Test::Nginx::Util::UseHup = $Test::Nginx::Util::UseHup;
    local $Test::Nginx::Util::UseValgrind = $Test::Nginx::Util::UseValgrind;

    my $must_die = $block->must_die;
    if (defined $must_die) {
        undef $Test::Nginx::Util::UseHup;
        undef $Test::Nginx::Util::UseValgrind;
    }

    my ($should_restart, $should_reconfig) = (1, 1);
    if (!defined $config) {
        if (!$Test::Nginx::Util::NoNginxManager && !defined $PrevConfig) {
            bail_out("$name - No '--- config' section specified and could not get previous one."
                     . " Use TEST_NGINX_NO_NGINX_MANAGER ?");
        }
        ($should_restart, $should_reconfig) = (0, 0);
    } elsif ($Test::Nginx::Util::NoNginxManager) {
        diag("NO_NGINX_MANAGER activated: config for $name ignored");
        ($should_restart, $should_reconfig) = (0, 0);
    } else {
        $should_reconfig = !defined $PrevConfig || $config ne $PrevConfig;
        $should_restart = $should_reconfig || $Test::Nginx::Util::ForceRestartOnTest;
    }

    my ($should_skip, $tests_to_skip, $skip_reason) = skip_spec($block);
    my ($should_todo, $todo_reason);
    if (defined(my $todo = $block->todo)) {
        $todo =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- todo spec: $todo");
        ($should_todo, $tests_to_skip, $todo_reason) = (1, $1, $2);
    }

    my $failures_before = failures_so_far();
    my $dry_run = 0;

    if (!$Test::Nginx::Util::NoNginxManager && !$should_skip && $should_restart) {
        $PrevConfig = $config if $should_reconfig;
        $Test::Nginx::Util::ConfigVersion = random_string(10)
            if $Test::Nginx::Util::UseHup;

        if (defined $must_die) {
            run_must_die($block, $config, $rand_ports, $must_die);
            return;
        }

        if ($Test::Nginx::Util::UseHup && !$first_time
            && Test::Nginx::Util::nginx_running())
        {
            if (!Test::Nginx::Util::reload_nginx($block, $config, $rand_ports)) {
                fail("$name - failed to reload configuration");
                diag(Test::Nginx::Util::startup_diagnostics());
            }
        } else {
            $dry_run = start_fresh_nginx($block, $config, $rand_ports);
        }
    }

    if ($block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    $Test::Nginx::Util::ErrLogFilePos = 0;
    for my $i (1 .. $RepeatEach) {
        Test::Nginx::Util::write_user_files($block, $rand_ports) if $i > 1;

        if ($should_skip && defined $tests_to_skip) {
            SKIP: {
                skip("$name - $skip_reason", $tests_to_skip);
            }
        } elsif ($should_todo) {
            TODO: {
                todo_skip("$name - $todo_reason", $tests_to_skip);
            }
        } else {
            run_test_helper($block, $dry_run, $i - 1);
        }
    }

    if ($Test::Nginx::Util::UseValgrind) {
        Test::Nginx::Util::stop_nginx($name) unless $Test::Nginx::Util::UseHup;
        check_valgrind($name);
    }

    explain_failures($name) if failures_so_far() > $failures_before;
}

# Returns the dry-run reason (or 0) and bails out if nginx cannot start.
sub start_fresh_nginx ($block, $config, $rand_ports) {
    my $name = $block->name;

    Test::Nginx::Util::stop_nginx($name);
    Test::Nginx::Util::kill_stale_nginx();
    Test::Nginx::Util::setup_server_root(0);
    Test::Nginx::Util::write_user_files($block, $rand_ports);
    Test::Nginx::Util::write_config_file($block, $config, $rand_ports);
    Test::Nginx::Util::forget_valgrind_logs();

    my ($ok, $status, $why) = Test::Nginx::Util::start_nginx();
    return 0 if $ok;

    if ($ENV{TEST_NGINX_IGNORE_MISSING_DIRECTIVES}) {
        my $log = Test::Nginx::Util::slurp($Test::Nginx::Util::ErrLogFile) // '';
        my $stderr = Test::Nginx::Util::slurp("$Test::Nginx::Util::LogDir/nginx.stderr") // '';
        if ("$log$stderr" =~ /\[emerg\] .*?unknown directive "([^"]+)"/) {
            return "the lack of directive $1";
        }
    }
    bail_out("$name - Cannot start nginx using command \""
             . join(' ', Test::Nginx::Util::nginx_command()) . "\" ($why).\n"
             . Test::Nginx::Util::startup_diagnostics());
}

# --- must_die: nginx must refuse to start (optionally with that exit code).
sub run_must_die ($block, $config, $rand_ports, $must_die) {
    my $name = $block->name;

    Test::Nginx::Util::stop_nginx($name);
    Test::Nginx::Util::kill_stale_nginx();
    Test::Nginx::Util::setup_server_root(0);
    Test::Nginx::Util::write_user_files($block, $rand_ports);
    Test::Nginx::Util::write_config_file($block, $config, $rand_ports);
    $Test::Nginx::Util::ErrLogFilePos = 0;

    for my $i (0 .. $RepeatEach - 1) {
        my ($ok, $status) = Test::Nginx::Util::start_nginx();
        $status = 0 if $ok;
        my $exit_code = $status >> 8;

        if ($status == -1 || $exit_code == 127) {    # no nginx, or no pid file in time
            fail("$name - failed to execute the nginx command line");
        } elsif ($status & 128) {
            fail("$name - nginx core dumped");
        } elsif (looks_like_number($must_die)) {
            is($must_die, $exit_code, "$name - die with the expected exit code");
        } else {
            isnt($status, 0, "$name - die as expected");
        }

        check_error_log($block, undef, 0, $i, 0);

        if ($ok) {
            warn "WARNING: $name - nginx must die but it does not; killing it (req $i)\n";
            Test::Nginx::Util::stop_nginx($name);
        }
    }
}

# --- skip_nginx: N: < 1.2.3   --- skip_eval: N: perl code
sub skip_spec ($block) {
    my $name = $block->name;

    if (defined(my $spec = $block->skip_eval)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            my ($count, $code) = ($1, $2);
            my $skip = eval $code;
            bail_out("$name - skip_eval - failed to eval the Perl code \"$code\": $@") if $@;
            return ($skip, $count, 'skip_eval') if $skip;
        }
    }

    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        my ($count, $op, $reason) = ($1, $2, $6);
        my $ver = sprintf "%d.%03d%03d", $3, $4, $5;
        my $have = $Test::Nginx::Util::NginxVersion;
        my $skip = $op eq '<'  ? $have <  $ver
                 : $op eq '<=' ? $have <= $ver
                 : $op eq '>'  ? $have >  $ver
                 :               $have >= $ver;
        return (1, $count, $reason || "nginx version $op $3.$4.$5") if $skip;
    }

    return (0, undef, 'various reasons');
}

# ---------------------------------------------------------------------------
# One repetition of a block: send the request(s), check the answers
# ---------------------------------------------------------------------------

sub run_test_helper ($block, $dry_run, $repeated_req_idx) {
    my $name = $block->name;

    my $requests = requests_from_block($block);
    bail_out("$name - request empty") unless @$requests;

    my $timeout = Test::Nginx::Util::parse_time(scalar($block->timeout)) // timeout();
    my $pipelined = $block->pipelined_requests;

    my ($res, $n, $need_array);
    my $req_idx = 0;

    for my $packets (@$requests) {
        my $raw;
        my $head_req = join('', map { $_->{value} } @$packets) =~ /^\s*HEAD\s+/ ? 1 : 0;

        if ($dry_run) {
            $raw = "200 OK HTTP/1.0\r\nContent-Length: 0\r\n\r\n";
        } else {
            $raw = send_packets($block, $packets, $timeout);
        }

        if ($pipelined) {
            $n = @$pipelined;
            $need_array = 1;
        } else {
            $need_array = @$requests > 1;
        }

        while (1) {
            $raw //= '';
            my ($raw_headers, $left);

            if (!defined $block->ignore_response) {
                if (defined $block->http09) {
                    $res = HTTP::Response->new(200, 'OK', [], $raw);
                    $raw_headers = '';
                } else {
                    my $err;
                    ($res, $raw_headers, $left, $err) =
                        Test::Nginx::Fallback::HTTP::parse_response($raw, $head_req);
                    if ($err) {
                        fail("$name - $err");
                        ($res, $raw_headers, $left) = ();
                    }
                }
            }

            if (!$n) {
                if (defined $left && length $left) {
                    (my $shown = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                    warn "WARNING: $name - unexpected extra bytes after last chunk in "
                         . "response: \"$shown\"\n";
                }
            } else {
                $raw = $left;
                $n--;
            }

            if (!defined $block->ignore_response) {
                check_error_code($block, $res, $dry_run, $req_idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $dry_run, $req_idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $dry_run, $req_idx, $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $dry_run, $req_idx, $repeated_req_idx, $need_array);
            }

            # Between requests the logs are checked too (as the real one does).
            if ($n || $req_idx < @$requests - 1) {
                sleep $block->wait if $block->wait;
                check_error_log($block, $res, $dry_run, $repeated_req_idx, $need_array);
                check_access_log($block, $dry_run, $repeated_req_idx)
                    unless defined $block->ignore_response;
            }

            $req_idx++;
            last unless $n;
        }
    }

    sleep $block->wait if $block->wait;
    check_error_log($block, $res, $dry_run, $repeated_req_idx, $need_array);
    check_access_log($block, $dry_run, $repeated_req_idx)
        unless defined $block->ignore_response;
}

sub send_packets ($block, $packets, $timeout) {
    my $name = $block->name;
    my $result = Test::Nginx::Fallback::HTTP::send_request(
        host         => $block->server_addr_for_client // $ServerAddr,
        port         => $ServerPortForClient,
        packets      => $packets,
        timeout      => $timeout,
        middle_delay => scalar($block->raw_request_middle_delay),
        shutdown     => shutdown_how($block),
    );

    if ($result->{error} && $result->{raw} eq '') {
        fail("$name - $result->{error}");
    } elsif ($result->{timed_out} && !defined $block->abort) {
        fail("ERROR: client socket timed out - $name");
        diag("got so far: " . show_bytes($result->{raw})) if length $result->{raw};
    }
    return $result->{raw};
}

sub shutdown_how ($block) {
    my $how = $block->shutdown;
    return undef unless defined $how;
    return $how =~ /^\s*$/ ? 1 : $how;
}

# The requests of a block: a list of requests, each a list of packets
# ({ value => bytes, delay_before => seconds }).
sub requests_from_block ($block) {
    my $name = $block->name;

    if (defined(my $raw = $block->raw_request)) {
        return [[ map { { value => $_ } } ref $raw eq 'ARRAY' ? @$raw : ($raw) ]];
    }

    my $request;
    if (defined $block->request_eval) {
        diag("$name - request_eval DEPRECATED. Use request eval instead.");
        $request = eval $block->request_eval;
        warn $@ if $@;
    } else {
        $request = $block->request;
        if (defined $request && !ref $request) {
            # leading comment lines and white space
            1 while $request =~ s/^\s*#[^\n]+\s+|^\s+//s;
        }
    }

    my $more_headers = $block->more_headers || '';
    my $headers_for = sub ($i, $what) {
        return $more_headers unless ref $more_headers eq 'ARRAY';
        return $more_headers->[$i]
            // bail_out("--- more_headers lacks data for the $what");
    };
    my $build = sub ($text, $headers, $connection) {
        bail_out("$name - Request line should be non-empty")
            unless defined $text && $text =~ /\S/;
        my ($req, $err) = Test::Nginx::Fallback::HTTP::build_request(
            text => $text, more_headers => $headers,
            connection => $connection, server_name => $ServerName);
        bail_out("$name - $err") unless $req;
        return $req->{head} . $req->{body};
    };

    if (my $reqs = $block->pipelined_requests) {
        bail_out("$name - invalid entries in --- pipelined_requests")
            unless ref $reqs eq 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$reqs) {
            $all .= $build->($reqs->[$i], $headers_for->($i, "$i pipelined request"),
                             $i == $#$reqs ? 'close' : 'keep-alive');
        }
        return [[{ value => $all }]];
    }

    if (!ref $request) {
        return [[{ value => $build->($request, $headers_for->(0, 'request'), 'close') }]];
    }

    bail_out("$name - invalid ---request : MUST be string or array of requests")
        unless ref $request eq 'ARRAY';

    my @list;
    for my $i (0 .. $#$request) {
        my $one = $request->[$i];
        my $headers = $headers_for->($i, "${i}th request");
        if (!ref $one) {
            push @list, [{ value => $build->($one, $headers, 'close') }];
        } elsif (ref $one eq 'ARRAY') {
            for (@$one) {
                bail_out("$name - Invalid syntax. $_ should be a string or hash with value.")
                    if ref $_ && ref $_ ne 'HASH';
            }
            my ($packets, $err) = Test::Nginx::Fallback::HTTP::build_packets(
                $one, more_headers => $headers, connection => 'close',
                server_name => $ServerName);
            bail_out("$name - $err") unless $packets;
            push @list, $packets;
        } else {
            bail_out("$name - Invalid syntax. $one should be a string or an array of packets.");
        }
    }
    return \@list;
}

# ---------------------------------------------------------------------------
# Checks.  Each adds exactly the subtests the real library adds.
# ---------------------------------------------------------------------------

# The value of an expectation for request number $idx: arrays are needed
# when a block sends several requests.
sub get_indexed_value ($name, $value, $idx, $need_array) {
    if ($need_array) {
        return $value->[$idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results should be arrays as well.");
    }
    if (ref $value eq 'ARRAY') {
        bail_out("$name - SHOULD NOT HAPPEN: idx != 0 and don't need array.") if $idx != 0;
        return $value->[0];
    }
    return $value;
}

sub expand_ports ($text) {
    $text =~ s/\$ServerPort\b/$ServerPort/g;
    $text =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
    return $text;
}

# --- error_code (default 200) / --- error_code_like: one subtest per response
sub check_error_code ($block, $res, $dry_run, $idx, $need_array) {
    my $name = $block->name;
    my $got = ($res && $res->code) || '';
    SKIP: {
        skip("$name - tests skipped due to $dry_run", 1) if $dry_run;
        if (defined $block->error_code_like) {
            my $pat = get_indexed_value($name, scalar($block->error_code_like), $idx, $need_array);
            like($got, qr/$pat/sm, "$name - status code ok");
        } elsif (defined $block->error_code) {
            is($got, get_indexed_value($name, scalar($block->error_code), $idx, $need_array),
               "$name - status code ok");
        } else {
            is($got, 200, "$name - status code ok");
        }
    }
}

sub check_raw_response_headers ($block, $raw_headers, $dry_run, $idx, $need_array) {
    my $name = $block->name;
    $raw_headers //= '';
    if (defined $block->raw_response_headers_like) {
        SKIP: {
            skip("$name - raw_response_headers_like - tests skipped due to $dry_run", 1) if $dry_run;
            my $pat = get_indexed_value($name, scalar($block->raw_response_headers_like), $idx, $need_array);
            like($raw_headers, qr/$pat/s, "$name - raw resp headers like");
        }
    }
    if (defined $block->raw_response_headers_unlike) {
        SKIP: {
            skip("$name - raw_response_headers_unlike - tests skipped due to $dry_run", 1) if $dry_run;
            my $pat = get_indexed_value($name, scalar($block->raw_response_headers_unlike), $idx, $need_array);
            unlike($raw_headers, qr/$pat/s, "$name - raw resp headers unlike");
        }
    }
}

# --- response_headers: one subtest per header name; "!Name" means absent
# (matched case-sensitively against the raw header lines, as the real one).
sub check_response_headers ($block, $res, $raw_headers, $dry_run, $idx, $need_array) {
    my $name = $block->name;
    $raw_headers //= '';

    if (defined $block->response_headers) {
        my $expected = parse_headers(
            get_indexed_value($name, scalar($block->response_headers), $idx, $need_array));
        for my $key (sort keys %$expected) {
            my $val = $expected->{$key};
            SKIP: {
                skip("$name - response_headers - tests skipped due to $dry_run", 1) if $dry_run;
                if (!defined $val) {
                    unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                           "$name - header $key not present in the raw headers");
                } else {
                    my $actual = $res ? $res->header($key) : undef;
                    is($actual // '', expand_ports($val), "$name - header $key ok");
                }
            }
        }
    } elsif (defined $block->response_headers_like) {
        my $expected = parse_headers(
            get_indexed_value($name, scalar($block->response_headers_like), $idx, $need_array));
        for my $key (sort keys %$expected) {
            my $val = $expected->{$key};
            my $actual = ($res ? $res->header($key) : undef) // '';
            SKIP: {
                skip("$name - response_headers_like - tests skipped due to $dry_run", 1) if $dry_run;
                like($actual, qr/^$val$/, "$name - header $key like ok");
            }
        }
    }
}

# --- response_body_filters: names (md5_hex sha1_hex uc lc ucfirst lcfirst
# length) or code refs, applied to the body before it is compared.
sub transform_response_body ($block, $res, $idx) {
    my $filters = $block->response_body_filters;
    return unless defined $filters && $res && defined $res->content;
    my $name = $block->name;

    if (!ref $filters) {
        $filters = [split ' ', $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    if (ref $filters->[0] eq 'ARRAY') {
        # as the real one: every member an array once the first is
        for my $f (@$filters) {
            bail_out("$name - the --- response_body_filters two-dimensional "
                     . "array only be like [[uc], [lc]] not [[uc], lc]")
                if ref $f ne 'ARRAY';
        }
        $filters = $filters->[$idx]
            // bail_out("$name - the ---response_body_filters two-dimensional array "
                        . "unmatch the specified request($idx)");
    }

    my %builtin = (
        md5_hex  => \&Digest::MD5::md5_hex,
        sha1_hex => \&Digest::SHA::sha1_hex,
        uc       => sub ($s) { uc $s },
        lc       => sub ($s) { lc $s },
        ucfirst  => sub ($s) { ucfirst $s },
        lcfirst  => sub ($s) { lcfirst $s },
        length   => sub ($s) { length $s },
    );
    my $content = $res->content;
    for my $f (ref $filters eq 'ARRAY' ? @$filters : ($filters)) {
        my $code = ref $f eq 'CODE' ? $f : $builtin{$f}
            // bail_out("$name - unknown filter, \"$f\", specified in the "
                        . "--- response_body_filters section");
        $content = $code->($content);
    }
    $res->content($content);
}

# --- response_body (exact, or a qr// from eval) / --- response_body_like /
# --- response_body_unlike: one subtest per response
sub check_response_body ($block, $res, $dry_run, $idx, $repeated_req_idx, $need_array) {
    my $name = $block->name;
    my $content = $res ? $res->content : undef;
    if (defined $content) {
        $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gm;
        $content =~ s/^Connection: TE, close\r\n//gm;
    }

    if (defined $block->response_body || defined $block->response_body_eval) {
        my $expected;
        if ($block->response_body_eval) {
            diag("$name - response_body_eval is DEPRECATED. Use response_body eval instead.");
            $expected = eval get_indexed_value($name, scalar($block->response_body_eval), $idx, $need_array);
            warn $@ if $@;
        } else {
            $expected = get_indexed_value($name, scalar($block->response_body), $idx, $need_array);
        }
        Encode::from_to($expected, 'UTF-8', scalar($block->charset)) if $block->charset;
        $expected = expand_ports($expected) if defined $expected && !ref $expected;

        my $desc = "$name - response_body - response is expected "
                 . "(repeated req $repeated_req_idx, req $idx)";
        SKIP: {
            skip("$name - response_body - tests skipped due to $dry_run", 1) if $dry_run;
            if (ref $expected) {
                like($content, $expected,
                     "$name - response_body - like (repeated req $repeated_req_idx, req $idx)");
            } elsif ($NoLongString) {
                is($content, $expected, $desc);
            } else {
                Test::LongString::is_string($content, $expected, $desc);
            }
        }

    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $patterns = $type eq 'like' ? $block->response_body_like : $block->response_body_unlike;
        my $pat = expand_ports(get_indexed_value($name, $patterns, $idx, $need_array));
        my $summary = Test::Nginx::Util::trim($content) // '';
        SKIP: {
            skip("$name - response_body_$type - tests skipped due to $dry_run", 1) if $dry_run;
            my $desc = "$name - response_body_$type - response is expected ($summary)";
            $type eq 'like' ? like($content, qr/$pat/s, $desc)
                            : unlike($content, qr/$pat/s, $desc);
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $res ? $res->content : undef, $idx, $repeated_req_idx, $dry_run);
    }
}

# Section value -> list of patterns (strings are substrings, one per line).
sub pattern_list ($pats) {
    return [split /\n+/, $pats =~ s/\n\z//r] unless ref $pats;
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub line_matches ($line, $pat) {
    return (ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/;
}

sub value_contains ($val, $str) {
    return $val =~ /\Q$str\E/ if !ref $val || ref $val eq 'Regexp';
    return scalar grep { value_contains($_, $str) } @$val if ref $val eq 'ARRAY';
    return 0;
}

sub fmt_str ($s) {
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

# --- grep_error_log + grep_error_log_out: 1 subtest
# --- error_log: 1 subtest per pattern (it must match some new log line)
# --- no_error_log: 1 subtest per pattern that matches nothing, 1 failing
#     subtest per matching line
# Only the log lines written since the last check in this block are seen.
sub check_error_log ($block, $res, $dry_run, $repeated_req_idx, $need_array) {
    my $name = $block->name;
    my $lines;
    my %warn_about = map { $_ => 1 } qw(alert crit emerg);

    my $grep_pat = $block->grep_error_log;
    $grep_pat = $grep_pat->[$repeated_req_idx] if ref $grep_pat eq 'ARRAY';
    if (!defined $block->grep_error_log && defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined");
    }

    if (defined $grep_pat) {
        my $expected = $block->grep_error_log_out
            // bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined");
        $expected = $expected->[$repeated_req_idx] if ref $expected eq 'ARRAY';
        SKIP: {
            skip("$name - error_log - tests skipped due to $dry_run", 1) if $dry_run;
            $lines //= error_log_data();
            my $matched = '';
            for my $line (@$lines) {
                if ((ref $grep_pat && $line =~ /$grep_pat/) || $line =~ /\Q$grep_pat\E/) {
                    $matched .= "$&\n" if $& !~ /\n/;
                }
            }
            my $desc = "$name - grep_error_log_out (req $repeated_req_idx)";
            if (ref $expected eq 'Regexp') {
                like($matched, $expected, $desc);
            } elsif ($NoLongString) {
                is($matched, $expected, $desc);
            } else {
                Test::LongString::is_string($matched, $expected, $desc);
            }
        }
    }

    for my $section (qw(error_log no_error_log)) {
        my $pats = $block->$section;
        next unless defined $pats;
        for my $level (keys %warn_about) {
            delete $warn_about{$level} if value_contains($pats, "[$level");
        }
    }

    if (defined(my $pats = $block->error_log)) {
        $lines //= error_log_data();
        expect_in_log($name, 'error_log', 'error.log', $pats, $lines,
                      $dry_run, $repeated_req_idx);
    }

    if (defined(my $pats = $block->no_error_log)) {
        $lines //= error_log_data();
        expect_not_in_log($name, 'no_error_log', 'error.log', $pats, $lines,
                          $dry_run, $repeated_req_idx, 9);
    }

    # Like the real one, this reads the new log lines even when nothing is
    # left to warn about (so the next check in the block starts after them).
    if (!$dry_run) {
        $lines //= error_log_data();
        for my $line (@$lines) {
            if ($line =~ /\[(alert|crit|emerg)\]/ && $warn_about{$1}) {
                warn "WARNING: $name - " . fmt_str($line) . "\n";
            }
        }
    }

    for my $line (@{ $lines // [] }) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            fail("$name - " . ($line =~ s/\n\z//r));
        }
    }
}

# --- access_log / --- no_access_log: like error_log, on the whole access.log
sub check_access_log ($block, $dry_run, $repeated_req_idx) {
    my $name = $block->name;
    my $lines;

    if (defined(my $pats = $block->access_log)) {
        $lines //= access_log_data();
        expect_in_log($name, 'access_log', 'access.log', $pats, $lines,
                      $dry_run, $repeated_req_idx);
    }

    if (defined(my $pats = $block->no_access_log)) {
        $lines //= access_log_data();
        expect_not_in_log($name, 'no_access_log', 'access.log', $pats, $lines,
                          $dry_run, $repeated_req_idx, 0);
    }
}

# 1 passing subtest per pattern that matches a line, 1 failing per pattern
# that matches none.
sub expect_in_log ($name, $section, $file, $pats, $lines, $dry_run, $idx) {
    my @pats = @{ pattern_list($pats) };

    for my $line (@$lines) {
        for my $pat (@pats) {
            next unless defined $pat && line_matches($line, $pat);
            SKIP: {
                skip("$name - $section - tests skipped due to $dry_run", 1) if $dry_run;
                pass("$name - pattern \"$pat\" matches a line in $file (req $idx)");
            }
            undef $pat;
        }
    }

    for my $pat (grep { defined } @pats) {
        SKIP: {
            skip("$name - $section - tests skipped due to $dry_run", 1) if $dry_run;
            fail("$name - pattern \"$pat\" should match a line in $file (req $idx)");
        }
    }
}

# 1 failing subtest per matching line (with $context lines after it), 1
# passing per pattern that matches nothing.
sub expect_not_in_log ($name, $section, $file, $pats, $lines, $dry_run, $idx,
                       $context) {
    my @pats = @{ pattern_list($pats) };
    my %found;

    for my $i (0 .. $#$lines) {
        my $line = $lines->[$i];
        for my $pat (@pats) {
            next unless defined $pat && line_matches($line, $pat);
            $found{$pat} = 1;
            SKIP: {
                skip("$name - $section - tests skipped due to $dry_run ($line)", 1) if $dry_run;
                my @more = $context ? @$lines[$i + 1 .. min($i + $context, $#$lines - 1)] : ();
                fail("$name - pattern \"" . fmt_str($pat) . "\" should not match any line in "
                     . "$file but matches line \"" . fmt_str($line)
                     . "\" (req $idx)" . ($context ? "\n" . join('', @more) : ''));
            }
        }
    }

    for my $pat (@pats) {
        next if !defined $pat || $found{$pat};
        SKIP: {
            skip("$name - $section - tests skipped due to $dry_run", 1) if $dry_run;
            pass("$name - pattern \"" . fmt_str($pat)
                 . "\" does not match a line in $file (req $idx)");
        }
    }
}

# Valgrind mode: any "==PID==" line valgrind wrote is a failure (the real
# library only prints them).
sub check_valgrind ($name) {
    my $report = Test::Nginx::Util::valgrind_report();
    return unless length $report;
    fail("$name - valgrind reported memory errors");
    my @lines = split /^/, $report;
    splice @lines, 80, @lines - 80, "... (" . (@lines - 80) . " more lines)\n" if @lines > 80;
    diag(join '', @lines);
}

# ---------------------------------------------------------------------------
# Diagnostics
# ---------------------------------------------------------------------------

sub failures_so_far () {
    return scalar grep { !$_ } Test::More->builder->summary;
}

# After a failing block, show where to look and the notable log lines.
sub explain_failures ($name) {
    my $log = Test::Nginx::Util::slurp($Test::Nginx::Util::ErrLogFile) // '';
    my @notable = grep { /\[(?:warn|error|crit|alert|emerg)\]/ } split /^/, $log;
    my $msg = "$name: nginx error log is $Test::Nginx::Util::ErrLogFile";
    $msg .= " (removed at exit; set TEST_NGINX_NO_CLEAN=1 to keep it)"
        if $Test::Nginx::Util::Randomize;
    if (@notable) {
        @notable = @notable[-10 .. -1] if @notable > 10;
        $msg .= "\nits last warn/error lines:\n" . join '', @notable;
    }
    diag($msg);
}

sub show_bytes ($s) {
    $s = substr($s, 0, 500) . '...' if length $s > 500;
    $s =~ s/([\0-\011\013-\037\177-\377])/sprintf('\x%02x', ord $1)/ge;
    return $s;
}

sub random_string ($len) {
    my @chars = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
    return join '', map { $chars[rand @chars] } 1 .. $len;
}

1;
