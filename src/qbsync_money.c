
/*
 * Copyright (C) qbsync authors
 */


#include <string.h>

#include "qbsync_money.h"


/* Stripe: unit_amount_decimal has "at most 12 decimal places" */
#define QBSYNC_MONEY_FRACTION_MAX  12


/* an optional '-', then digits, then optionally '.' and 1 to 12 digits */
typedef struct {
    const char  *integer;
    size_t       integer_len;
    const char  *fraction;
    size_t       fraction_len;
    unsigned     negative:1;
} qbsync_money_decimal_t;


/*
 * Stripe's currency list (docs.stripe.com/currencies): zero-decimal and
 * three-decimal codes, upper case, sorted; every other code has 2.
 */
static const char  qbsync_money_zero_decimal[][4] = {
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
    "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"
};

static const char  qbsync_money_three_decimal[][4] = {
    "BHD", "JOD", "KWD", "OMR", "TND"
};


static int qbsync_money_in(const char code[3], const char (*list)[4],
    size_t n);
static int qbsync_money_parse(const char *minor, size_t len,
    qbsync_money_decimal_t *decimal);
static char qbsync_money_digit(const qbsync_money_decimal_t *decimal,
    size_t k);


int
qbsync_money_exponent(const char *currency, size_t len)
{
    char    code[3];
    size_t  i;

    if (len != 3) {
        return 2;
    }

    for (i = 0; i < 3; i++) {
        code[i] = currency[i];

        if (code[i] >= 'a' && code[i] <= 'z') {
            code[i] -= 'a' - 'A';
        }
    }

    if (qbsync_money_in(code, qbsync_money_zero_decimal,
                        sizeof(qbsync_money_zero_decimal)
                        / sizeof(qbsync_money_zero_decimal[0])))
    {
        return 0;
    }

    if (qbsync_money_in(code, qbsync_money_three_decimal,
                        sizeof(qbsync_money_three_decimal)
                        / sizeof(qbsync_money_three_decimal[0])))
    {
        return 3;
    }

    return 2;
}


static int
qbsync_money_in(const char code[3], const char (*list)[4], size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (memcmp(code, list[i], 3) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
qbsync_money_parse(const char *minor, size_t len,
    qbsync_money_decimal_t *decimal)
{
    size_t  i;

    if (len == 0) {
        return -1;
    }

    i = (minor[0] == '-');
    decimal->negative = i;
    decimal->integer = minor + i;

    while (i < len && minor[i] >= '0' && minor[i] <= '9') {
        i++;
    }

    decimal->integer_len = (minor + i) - decimal->integer;
    decimal->fraction = minor + i;
    decimal->fraction_len = 0;

    /* Stripe writes "1.5"; "1." and ".5" are refused */
    if (i < len && minor[i] == '.') {
        decimal->fraction = minor + ++i;

        while (i < len && minor[i] >= '0' && minor[i] <= '9') {
            i++;
        }

        decimal->fraction_len = (minor + i) - decimal->fraction;

        if (decimal->fraction_len == 0
            || decimal->fraction_len > QBSYNC_MONEY_FRACTION_MAX)
        {
            return -1;
        }
    }

    if (decimal->integer_len == 0 || i != len) {
        return -1;
    }

    return 0;
}


/* the k-th digit of integer and fraction read as one string */
static char
qbsync_money_digit(const qbsync_money_decimal_t *decimal, size_t k)
{
    if (k < decimal->integer_len) {
        return decimal->integer[k];
    }

    return decimal->fraction[k - decimal->integer_len];
}


/*
 * minor's digits, integer part and fraction together, are one string
 * d[0..ndigits) whose point sits after the integer part; dividing
 * by 10^exponent moves the point exponent places to the left, past the
 * start of d if need be (the places before d are zeros).  The answer is d
 * from its first non-zero digit to its last one, with the point and the
 * zeros around it that this needs.
 */
size_t
qbsync_money_format(const char *minor, size_t len, int exponent, char *buf,
    size_t size)
{
    size_t                  i, n, ndigits, first, last, point, lead;
    size_t                  whole_len, fraction_len;
    qbsync_money_decimal_t  decimal;

    if (exponent < 0 || qbsync_money_parse(minor, len, &decimal) != 0) {
        return 0;
    }

    ndigits = decimal.integer_len + decimal.fraction_len;

    for (first = 0; first < ndigits; first++) {
        if (qbsync_money_digit(&decimal, first) != '0') {
            break;
        }
    }

    /* zero, whatever its sign and however many zeros it was written with */
    if (first == ndigits) {
        if (size < 1) {
            return 0;
        }

        buf[0] = '0';
        return 1;
    }

    for (last = ndigits; qbsync_money_digit(&decimal, last - 1) == '0';
         last--)
    {
        /* void */
    }

    if ((size_t) exponent <= decimal.integer_len) {
        point = decimal.integer_len - exponent;
        lead = 0;

    } else {
        point = 0;
        lead = exponent - decimal.integer_len;

        if (lead > size) {
            return 0;
        }
    }

    whole_len = (first < point) ? point - first : 1;
    fraction_len = (last > point) ? lead + last - point : 0;

    if (decimal.negative + whole_len + (fraction_len ? 1 + fraction_len : 0)
        > size)
    {
        return 0;
    }

    n = 0;

    if (decimal.negative) {
        buf[n++] = '-';
    }

    if (first < point) {
        for (i = first; i < point; i++) {
            buf[n++] = qbsync_money_digit(&decimal, i);
        }

    } else {
        buf[n++] = '0';
    }

    if (fraction_len) {
        buf[n++] = '.';

        memset(buf + n, '0', lead);
        n += lead;

        for (i = point; i < last; i++) {
            buf[n++] = qbsync_money_digit(&decimal, i);
        }
    }

    return n;
}
