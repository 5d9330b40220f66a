# Self test of the Test::Nginx runner: failures must be reported.  Runs the
# .tt files in data/ in a child perl (same @INC, so the same runner) and
# checks their TAP output and exit status.
use strict;
use warnings;
use FindBin;
use Test::More tests => 9;

my $data = "$FindBin::Bin/data";

# Which runner is on @INC?  (Not loaded here: it would start managing nginx.)
my ($util) = grep { -f "$_/Test/Nginx/Util.pm" } @INC;
my $fallback = $util && do {
    open my $fh, '<', "$util/Test/Nginx/Util.pm" or die $!;
    local $/;
    <$fh> =~ /sub valgrind_report/;
};

sub run_child {
    my ($file, %env) = @_;
    local $ENV{TEST_NGINX_RANDOMIZE} = 1;    # never share t/servroot
    local @ENV{keys %env} = values %env;
    my $out = `$^X $file 2>&1`;
    return ($? >> 8, $out);
}

my ($status, $out) = run_child("$data/failing.tt");
isnt $status, 0, 'failing.tt exits non-zero';
like $out, qr/^not ok 1 - .*TEST 1: wrong status and body - status code ok$/m,
    'wrong status fails';
like $out, qr/^not ok 2 - .*TEST 1: wrong status and body - response_body/m,
    'wrong body fails';
like $out, qr/got:.*actual.*\n.*\n?.*expected:.*expected/,
    'the diagnostics show what was got and expected';
like $out, qr/^ok 3 - .*TEST 2/m, 'a right status passes';
like $out, qr/^not ok 4 - .*pattern "this line is not in the log" should match a line in error\.log/m,
    'a missing error_log line fails';
unlike $out, qr/^Bail out!/m, 'no bail out';

SKIP: {
    skip 'the real Test::Nginx only prints valgrind reports', 2 unless $fallback;
    skip 'valgrind is not installed', 2
        if system('valgrind --version > /dev/null 2>&1') != 0;

    ($status, $out) = run_child("$data/leaky.tt",
        TEST_NGINX_USE_VALGRIND => 1, TEST_NGINX_VALGRIND_SUPP => '');
    isnt $status, 0, 'leaky.tt exits non-zero';
    like $out, qr/^not ok 3 - .*valgrind reported memory errors/m,
        'a valgrind report fails the block';
}
