
/*
 * Copyright (C) qbsync authors
 */


/*
 * Input: one byte for the exponent (0 to 31), then the amount; the first
 * three bytes of the amount are also read as a currency code.  A decimal
 * that Stripe could write must be formatted, anything else refused; the
 * result must be a plain decimal, format to itself with exponent 0, and
 * be the amount divided by 10^exponent, compared digit by digit.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qbsync_money.h"


#define check(expr)                                                           \
    do {                                                                      \
        if (!(expr)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,           \
                    __LINE__, #expr);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)


/* a value as sign, significant digits and the power of ten of the last */
typedef struct {
    int          negative;
    const char  *digits[2];
    size_t       len[2];
    long         power;
} decimal_t;


/* optional '-', digits, optionally '.' and up to max_fraction digits */
static int
decimal_parse(const char *text, size_t len, size_t max_fraction,
    decimal_t *d)
{
    size_t  i, int_len, frac_len;

    i = (len > 0 && text[0] == '-');
    d->negative = (int) i;
    d->digits[0] = text + i;

    while (i < len && text[i] >= '0' && text[i] <= '9') {
        i++;
    }

    int_len = (size_t) (text + i - d->digits[0]);
    d->digits[1] = text + i;
    frac_len = 0;

    if (i < len && text[i] == '.') {
        d->digits[1] = text + ++i;

        while (i < len && text[i] >= '0' && text[i] <= '9') {
            i++;
        }

        frac_len = (size_t) (text + i - d->digits[1]);

        if (frac_len == 0 || frac_len > max_fraction) {
            return -1;
        }
    }

    if (int_len == 0 || i != len) {
        return -1;
    }

    /* drop the leading zeros of the integer part, the trailing of both */
    while (int_len && *d->digits[0] == '0') {
        d->digits[0]++;
        int_len--;
    }

    while (frac_len && d->digits[1][frac_len - 1] == '0') {
        frac_len--;
    }

    d->len[0] = int_len;
    d->len[1] = frac_len;
    d->power = -(long) frac_len;

    if (frac_len == 0) {
        while (d->len[0] && d->digits[0][d->len[0] - 1] == '0') {
            d->len[0]--;
            d->power++;
        }
    }

    if (int_len == 0) {
        while (d->len[1] && *d->digits[1] == '0') {
            d->digits[1]++;
            d->len[1]--;
        }
    }

    if (d->len[0] + d->len[1] == 0) {
        d->negative = 0;
        d->power = 0;
    }

    return 0;
}


static int
decimal_equal(const decimal_t *a, const decimal_t *b)
{
    size_t  i, j, ka, kb;

    if (a->negative != b->negative || a->power != b->power
        || a->len[0] + a->len[1] != b->len[0] + b->len[1])
    {
        return 0;
    }

    for (i = 0, j = 0, ka = 0, kb = 0; ka < 2 && kb < 2; ) {
        if (i == a->len[ka]) {
            ka++;
            i = 0;
            continue;
        }

        if (j == b->len[kb]) {
            kb++;
            j = 0;
            continue;
        }

        if (a->digits[ka][i++] != b->digits[kb][j++]) {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          exponent;
    char        *out, again[QBSYNC_MONEY_TEXT_MAX * 2];
    size_t       len, n, room, i, sign;
    decimal_t    amount, formatted;
    const char  *minor, *point;

    if (size == 0) {
        return 0;
    }

    exponent = data[0] % 32;
    minor = (const char *) data + 1;
    len = size - 1;

    n = (size_t) qbsync_money_exponent(minor, len < 3 ? len : 3);
    check(n == 0 || n == 2 || n == 3);

    room = len + (size_t) exponent + 3;
    out = malloc(room);
    if (out == NULL) {
        abort();
    }

    n = qbsync_money_format(minor, len, exponent, out, room);

    if (decimal_parse(minor, len, 12, &amount) != 0) {
        check(n == 0);
        free(out);
        return 0;
    }

    check(n > 0);
    check(decimal_parse(out, n, (size_t) -1, &formatted) == 0);

    /* plain: no leading zero, no trailing one, no "-0" ("1." is not parsed) */
    sign = (out[0] == '-');
    check(!(out[sign] == '0' && sign + 1 < n && out[sign + 1] != '.'));
    check(!(memchr(out, '.', n) != NULL && out[n - 1] == '0'));
    check(!(n == 2 && memcmp(out, "-0", 2) == 0));

    if (amount.len[0] + amount.len[1]) {
        amount.power -= exponent;
    }

    check(decimal_equal(&amount, &formatted));

    /* the result is a decimal of its own kind, kept as it is */
    point = memchr(out, '.', n);

    if ((point == NULL || out + n - point - 1 <= 12) && n <= sizeof(again)) {
        check(qbsync_money_format(out, n, 0, again, sizeof(again)) == n);
        check(memcmp(again, out, n) == 0);
    }

    check(qbsync_money_format(minor, len, exponent, out, n) == n);
    check(qbsync_money_format(minor, len, exponent, out, n - 1) == 0);

    for (i = 0; i < n; i++) {
        check((out[i] >= '0' && out[i] <= '9') || out[i] == '.'
              || (i == 0 && out[i] == '-'));
    }

    free(out);

    return 0;
}
