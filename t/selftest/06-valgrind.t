# Self test of the Test::Nginx runner in valgrind mode: nginx runs under
# valgrind memcheck (stock nginx's own two leaks are suppressed by
# valgrind.supp beside this file).  With t/lib/fallback any other valgrind
# report fails the block; the real Test::Nginx only prints it.
use FindBin;

BEGIN {
    $ENV{TEST_NGINX_USE_VALGRIND} ||= 1;
    $ENV{TEST_NGINX_VALGRIND_SUPP} ||= "$FindBin::Bin/../valgrind.supp";
}

use Test::Nginx::Socket;

if (system('valgrind --version > /dev/null 2>&1') != 0) {
    plan skip_all => 'valgrind is not installed';
}

plan tests => repeat_each() * 2 * blocks();

run_tests();

__DATA__

=== TEST 1: a regex location under valgrind
--- config
    location ~ ^/re/(\d+)$ {
        return 200 "re $1\n";
    }
--- request
GET /re/42
--- response_body
re 42
