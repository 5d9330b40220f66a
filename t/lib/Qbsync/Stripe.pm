package Qbsync::Stripe;

# Stripe webhook deliveries for the tests, the demo and the benchmark:
# events shaped like Stripe's (t/fixtures/stripe/) and signed the way
# Stripe signs them: v1 = hex(HMAC-SHA256(secret, "<t>.<body>")), the
# secret used as written, "whsec_" included.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256_hex);
use File::Basename qw(dirname);
use File::Spec;
use JSON::PP;

our $Secret = 'whsec_qbsync_test_secret';

my $json = JSON::PP->new->utf8(1)->canonical(1)->allow_nonref(1);

sub fixture_dir {
    return File::Spec->catdir(dirname(__FILE__), '..', '..', 'fixtures',
                              'stripe');
}

sub product {
    my (%override) = @_;

    my $file = File::Spec->catfile(fixture_dir(), 'product.json');
    open my $in, '<', $file or die "$file: $!";
    my $product = decode_json(do { local $/; <$in> });
    close $in;

    @$product{keys %override} = values %override;

    return $product;
}

# A compact event body (no surrounding white space: Test::Nginx trims
# request bodies, and the signature must cover the bytes sent), its
# top-level fields in the order Stripe sends them: id first, type last.
sub event {
    my (%o) = @_;

    my %event = (
        id               => $o{id} // 'evt_1QbsyncTest000000000001',
        object           => 'event',
        api_version      => '2024-06-20',
        created          => $o{created} // 1700000000,
        data             => { object => $o{object} // product() },
        livemode         => JSON::PP::false,
        pending_webhooks => 1,
        request          => { id => undef, idempotency_key => undef },
        type             => $o{type} // 'product.updated',
    );

    $event{data}{previous_attributes} = $o{previous_attributes}
        if $o{previous_attributes};

    my @order = qw(id object api_version created data livemode
                   pending_webhooks request type);

    return '{' . join(',', map { $json->encode($_) . ':'
                                 . $json->encode($event{$_}) } @order) . '}';
}

# About 1.8 KB, like a real product.updated with a few images, features
# and metadata: the size the benchmark and the big-picture tests use.
sub realistic_event {
    my (%o) = @_;

    my $product = product(
        id          => $o{product} // 'prod_QXg1hqf4jFNsqG',
        name        => 'Organic cotton T-shirt, heather grey',
        description => 'Comfortable organic cotton t-shirt, pre-shrunk, '
                       . 'double-stitched hems and a tagless neck label; '
                       . 'available in six sizes and four colours, printed '
                       . 'with water-based inks in our Amsterdam workshop.',
        images      => [ map { "https://files.stripe.com/links/MDB8YWNjdF8x"
                               . "UWJzeW5jVGVzdHxmbF90ZXN0X$_" } 1 .. 6 ],
        marketing_features => [ map { { name => $_ } }
                                'Organic cotton', 'Fair trade', 'Tagless',
                                'Machine washable', 'Pre-shrunk', 'Double-stitched' ],
        metadata    => { sku_family => 'apparel-tees', season => 'fw26',
                         warehouse => 'ams-2', erp_ref => 'ERP-004211',
                         colour => 'heather-grey', fabric => 'organic-cotton',
                         supplier => 'supplier_0042',
                         collection => 'essentials-2026' },
        tax_code    => 'txcd_99999999',
        statement_descriptor => 'QBSYNC TEES',
        unit_label  => 'shirt',
        updated     => 1700000000,
    );

    return event(%o, object => $product,
                 previous_attributes => { name => 'Cotton T-shirt',
                                          updated => 1699990000 });
}

sub signature {
    my ($body, %o) = @_;

    my $t = $o{t} // time;
    my @secrets = $o{secrets} ? @{ $o{secrets} } : ($o{secret} // $Secret);

    return "t=$t," . join(',', map { 'v1=' . hmac_sha256_hex("$t.$body", $_) }
                                   @secrets);
}

# more_headers for a signed delivery
sub headers {
    my ($body, %o) = @_;

    return "Content-Type: application/json\n"
           . 'Stripe-Signature: ' . signature($body, %o) . "\n";
}

1;
