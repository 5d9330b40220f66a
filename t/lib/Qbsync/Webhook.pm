package Qbsync::Webhook;

# The pieces of the sync tests: an nginx configuration with
# qbsync_webhook in front of the QuickBooks simulator, Stripe product and
# price events, and the requests of a block (simulator control, signed
# deliveries, state checks) for pipelined_requests.
#
#   pipelined_requests eval: Qbsync::Webhook::requests(@steps)
#   more_headers eval:       Qbsync::Webhook::headers(@steps)
#
# where a step is [reset => {...}], [seed => [items]], [deliver => $event],
# [state] (GET the simulator's state), [faults => [rules]], [tokens => {}],
# [stripe => {products, prices}], [file] (GET the token file) or
# [qbo => {item}] (an item update made directly in QuickBooks, with
# $AccessToken) or [batch => [products]] (a POST of NDJSON to the batch
# location, which config(batch => 1) adds; a product that is a string is
# sent as the line it is).

use strict;
use warnings;

use Digest::SHA ();
use JSON::PP;
use Qbsync::Stripe;

our $Realm = '9341453201';

# an access token a block can give both the simulator and the token file
our $AccessToken = 'at-qbsync-test';

my $json = JSON::PP->new->utf8(1)->canonical(1)->allow_nonref(1);

# The location under test and the internal ones it calls, as the docs
# show them with http:// to the simulator and without TLS.
sub config {
    my (%o) = @_;

    my $extra = $o{extra} // '';
    my $stripe = $o{stripe}
        ? "        qbsync_stripe /_qbsync/stripe key_file="
          . "\$TEST_NGINX_SERVER_ROOT/html/stripe.key;\n"
        : '';
    my $item = $o{item}
        // 'type=Service income_account=79 expense_account=80 currency=usd';
    my $batch_extra = $o{batch_extra} // '';

    # the realm has one limiter: the server's, for both locations
    my $batch = $o{batch}
        ? <<"_EOB_" : '';
    qbsync_rate_limit 60000r/m batch=6000r/m;

    location = /qbsync/batch {
        qbsync_batch on;
        qbsync_quickbooks /_qbsync/qbo realm=$Realm minorversion=75;
        qbsync_oauth /_qbsync/oauth client_id=qbsync-client
                     client_secret_file=\$TEST_NGINX_SERVER_ROOT/html/qbo.secret
                     token_file=\$TEST_NGINX_SERVER_ROOT/html/tokens.json;
        qbsync_item $item;
        client_max_body_size 64m;
$batch_extra    }
_EOB_

    return <<"_EOC_";
    location = /stripe/qbsync {
        qbsync_webhook on;
        qbsync_webhook_secret $Qbsync::Stripe::Secret;
        qbsync_quickbooks /_qbsync/qbo realm=$Realm minorversion=75;
        qbsync_oauth /_qbsync/oauth client_id=qbsync-client
                     client_secret_file=\$TEST_NGINX_SERVER_ROOT/html/qbo.secret
                     token_file=\$TEST_NGINX_SERVER_ROOT/html/tokens.json;
        qbsync_item $item;
$stripe$extra    }

$batch    location /_qbsync/qbo/ {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SIM_PORT/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_read_timeout 2s;
        subrequest_output_buffer_size 1m;
    }

    location = /_qbsync/oauth {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SIM_PORT/oauth2/v1/tokens/bearer;
        proxy_read_timeout 2s;
    }

    location /_qbsync/stripe/ {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SIM_PORT/;
        proxy_read_timeout 2s;
        subrequest_output_buffer_size 1m;
    }

    location /sim/ {
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SIM_PORT/_sim/;
    }

    # QuickBooks itself, for a block that edits an item behind the module
    location /qbo-direct/ {
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SIM_PORT/;
    }

    location = /token-file {
        alias \$TEST_NGINX_SERVER_ROOT/html/tokens.json;
    }
_EOC_
}

# The sync's block defaults, for a .t file's add_block_preprocessor: a zone,
# the webhook location of config(%o) and its files, where the block gives
# none of its own.
sub defaults {
    my ($block, %o) = @_;

    $block->set_value('http_config', 'qbsync_zone qbsync:4m;')
        unless defined $block->http_config;
    $block->set_value('config', config(%o))
        unless defined $block->config;
    $block->set_value('user_files', user_files())
        unless defined $block->user_files;
}

sub user_files {
    my (%o) = @_;

    my $tokens = $o{tokens} // '{"refresh_token":"rt-initial"}';

    return <<"_EOF_";
>>> qbo.secret
qbsync-client-secret
>>> tokens.json
$tokens
>>> stripe.key
sk_test_qbsync
_EOF_
}

# A product the way Stripe's events carry it (default_price by id).
sub product {
    my (%o) = @_;

    my %product = (
        id            => $o{id} // 'prod_QbsyncTshirt01',
        object        => 'product',
        active        => exists $o{active} ? ($o{active} ? JSON::PP::true
                                                          : JSON::PP::false)
                                           : JSON::PP::true,
        name          => $o{name} // 'T-shirt',
        description   => exists $o{description} ? $o{description}
                                                : 'Comfortable cotton t-shirt',
        default_price => exists $o{default_price} ? $o{default_price}
                                                  : undef,
        livemode      => JSON::PP::false,
        created       => 1700000000,
        updated       => 1700000000,
        metadata      => {},
    );

    return \%product;
}

sub price {
    my (%o) = @_;

    my %price = (
        id                  => $o{id} // 'price_QbsyncTshirt01',
        object              => 'price',
        active              => JSON::PP::true,
        billing_scheme      => $o{billing_scheme} // 'per_unit',
        currency            => $o{currency} // 'usd',
        product             => $o{product} // 'prod_QbsyncTshirt01',
        type                => 'one_time',
        unit_amount_decimal => exists $o{unit_amount_decimal}
                               ? $o{unit_amount_decimal} : '1999',
        livemode            => JSON::PP::false,
        created             => 1700000000,
    );

    # a copy: a string used as a number would be written as a JSON number
    my $amount = $price{unit_amount_decimal};
    $price{unit_amount} = (defined $amount && $amount =~ /^\d+$/)
                          ? int("$amount") : undef;
    $price{custom_unit_amount} = $o{custom_unit_amount}
        if $o{custom_unit_amount};

    return \%price;
}

# Events are built twice per test block (once for the request, once for
# its signed headers), so they depend on their arguments only: a fixed
# creation time by default, and an id derived from the contents.
our $Created = 1800000000;

# An event body, its top-level fields in Stripe's order.
sub event {
    my (%o) = @_;

    my $created = $o{created} // $Created;
    my $id = $o{id}
        // 'evt_1' . substr(Digest::SHA::sha1_hex(
               ($o{type} // '') . $created . $json->encode($o{object})), 0, 23);

    return Qbsync::Stripe::event(
        id      => $id,
        type    => $o{type},
        created => $created,
        object  => $o{object},
    );
}

sub livemode_event {
    my (%o) = @_;

    (my $body = event(%o)) =~ s/"livemode":false,"pending/"livemode":true,"pending/;
    return $body;
}

my %control = (
    reset  => ['POST', 'reset'],
    seed   => ['POST', 'items'],
    faults => ['POST', 'faults'],
    tokens => ['POST', 'tokens'],
    stripe => ['POST', 'stripe'],
    state  => ['GET', 'state'],
);

sub request {
    my ($step) = @_;
    my ($kind, $arg) = @$step;

    return "POST /stripe/qbsync\n$arg" if $kind eq 'deliver';
    return "POST /qbsync/batch\n"
           . join('', map { (ref $_ ? $json->encode($_) : $_) . "\n" } @$arg)
        if $kind eq 'batch';
    return 'GET /qbsync/dead-letter' . ($arg ? "?event=$arg" : '')
        if $kind eq 'letters';
    return 'POST /qbsync/dead-letter' . ($arg ? "?event=$arg" : '') . "\n"
        if $kind eq 'replay';
    return 'GET /dead-letter-file' if $kind eq 'letters_file';
    return "POST /qbo-direct/v3/company/$Realm/item?minorversion=75\n"
           . $json->encode($arg) if $kind eq 'qbo';
    return "GET /token-file" if $kind eq 'file';

    my ($method, $path) = @{ $control{$kind} or die "unknown step $kind" };

    return "$method /sim/$path" if $method eq 'GET';

    my $body = $kind eq 'seed' ? { items => $arg }
             : $kind eq 'faults' ? { rules => $arg }
             : ($arg // {});

    return "POST /sim/$path\n" . $json->encode($body);
}

sub header {
    my ($step) = @_;
    my ($kind, $arg) = @$step;

    return Qbsync::Stripe::headers($arg) if $kind eq 'deliver';
    return "Content-Type: application/x-ndjson\n" if $kind eq 'batch';
    return "Authorization: Bearer $AccessToken\n"
           . "Content-Type: application/json\n" if $kind eq 'qbo';
    return "Content-Type: application/json\n";
}

sub requests { [ map { request($_) } @_ ] }
sub headers  { [ map { header($_) } @_ ] }

1;
