# Self test of the Test::Nginx runner in HUP mode: between blocks nginx is
# reloaded, not restarted, so the master stays and shared memory zones
# keep their contents.
use Test::Nginx::Socket;

use_hup();
no_shuffle();

plan tests => repeat_each() * (2 + 3 + 2);

run_tests();

__DATA__

=== TEST 1: the first request passes the rate limit (2)
--- http_config
    limit_req_zone $binary_remote_addr zone=hup:1m rate=1r/m;
--- config
    location = /limited {
        limit_req zone=hup;
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- user_files
>>> limited
passed
--- init
$main::MasterPid = Test::Nginx::Util::get_pid_from_pidfile('init');
--- request
GET /limited
--- response_body
passed



=== TEST 2: after a reload with another config the zone still remembers it (3)
--- http_config
    limit_req_zone $binary_remote_addr zone=hup:1m rate=1r/m;
--- config
    location = /limited {
        limit_req zone=hup;
        root $TEST_NGINX_SERVER_ROOT/html;
    }
    location = /other {
        return 200 "other\n";
    }
--- user_files
>>> limited
passed
--- init
my $pid = Test::Nginx::Util::get_pid_from_pidfile('init');
die "the nginx master changed from $main::MasterPid to $pid: not a reload\n"
    if $pid ne $main::MasterPid;
--- request
GET /limited
--- error_code: 503
--- response_body_like: 503 Service Temporarily Unavailable
--- error_log
limiting requests, excess



=== TEST 3: a zone with a new name starts empty (2)
--- http_config
    limit_req_zone $binary_remote_addr zone=fresh:1m rate=1r/m;
--- config
    location = /limited {
        limit_req zone=fresh;
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- user_files
>>> limited
passed again
--- init
my $pid = Test::Nginx::Util::get_pid_from_pidfile('init');
die "the nginx master changed from $main::MasterPid to $pid: not a reload\n"
    if $pid ne $main::MasterPid;
--- request
GET /limited
--- response_body
passed again
