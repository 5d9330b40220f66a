
/*
 * Copyright (C) qbsync authors
 */


#include <stdio.h>
#include <string.h>

#include "qbsync_money.h"
#include "tap.h"
#include "check.h"


static char  buf[QBSYNC_MONEY_TEXT_MAX + 16];


static const char *
written(size_t n)
{
    return written_in(buf, sizeof(buf), n);
}


static size_t
format_len(const char *minor, size_t len, int exponent, size_t size)
{
    memset(buf, '#', sizeof(buf));

    return qbsync_money_format(minor, len, exponent, buf, size);
}


static const char *
format(const char *minor, int exponent)
{
    return written(format_len(minor, strlen(minor), exponent,
                              sizeof(buf) - 1));
}


static int
exponent(const char *currency)
{
    return qbsync_money_exponent(currency, strlen(currency));
}


static void
test_exponent(void)
{
    size_t       i;
    char         name[64];
    const char  *zero[] = {
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
        "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"
    };
    const char  *three[] = { "BHD", "JOD", "KWD", "OMR", "TND" };
    const char  *two[] = {
        "USD", "EUR", "GBP", "CAD", "AUD", "CHF", "ISK", "HUF", "TWD",
        "INR", "MXN", "XYZ"
    };

    for (i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
        snprintf(name, sizeof(name), "%s is zero-decimal", zero[i]);
        is_int(exponent(zero[i]), 0, name);
    }

    for (i = 0; i < sizeof(three) / sizeof(three[0]); i++) {
        snprintf(name, sizeof(name), "%s is three-decimal", three[i]);
        is_int(exponent(three[i]), 3, name);
    }

    for (i = 0; i < sizeof(two) / sizeof(two[0]); i++) {
        snprintf(name, sizeof(name), "%s is two-decimal", two[i]);
        is_int(exponent(two[i]), 2, name);
    }

    is_int(exponent("jpy"), 0, "lower case, as Stripe writes it");
    is_int(exponent("Kwd"), 3, "mixed case");
    is_int(exponent("usd"), 2, "usd");
    is_int(exponent("isk"), 2, "isk stays two-decimal in the API");
    is_int(qbsync_money_exponent("JPYX", 3), 0, "only len bytes are read");
    is_int(exponent("JPYX"), 2, "four letters are no code");
    is_int(exponent("JP"), 2, "two letters are no code");
    is_int(exponent(""), 2, "empty");
    is_int(qbsync_money_exponent("JP\0", 3), 2, "a NUL inside");
    is_int(exponent("J\xd0\xa0"), 2, "non-ASCII");
}


static void
test_examples(void)
{
    is_str(format("1999", 2), "19.99", "\"1999\", 2");
    is_str(format("1500", 3), "1.5", "\"1500\", 3");
    is_str(format("1000", 0), "1000", "\"1000\", 0");
    is_str(format("2000", 2), "20", "\"2000\", 2");
    is_str(format("12.5", 2), "0.125", "\"12.5\", 2");
    is_str(format("007", 2), "0.07", "\"007\", 2");
    is_str(format("0", 2), "0", "\"0\", 2");
    is_str(format("-1999", 2), "-19.99", "\"-1999\", 2");
    is_str(format("-0", 2), "0", "\"-0\" is written \"0\"");
    is_str(format("-0.000", 3), "0", "\"-0.000\" too");
    is_str(format("000", 0), "0", "zeros");
    is_str(format("0.000000000001", 2), "0.00000000000001",
           "12 decimals, the most Stripe writes");
    is_str(format("99999999999900", 2), "999999999999", "a big amount");
    is_str(format("100.000000000000", 2), "1", "trailing zeros go");
    is_str(format("1", 2), "0.01", "one cent");
    is_str(format("10", 2), "0.1", "ten cents");
    is_str(format("1", 3), "0.001", "one fils");
    is_str(format("-5", 3), "-0.005", "negative, below one");
    is_str(format("123.456", 0), "123.456", "exponent 0 keeps a fraction");
    is_str(format("0.5", 0), "0.5", "0.5, 0");
    is_str(format("1", 20), "0.00000000000000000001",
           "an exponent past the digits");
    is_str(format("1050", 2), "10.5", "zero inside the digits");
    is_str(format("00100", 2), "1", "leading and trailing zeros");
    is_int(format_len("1999xxx", 7, 2, sizeof(buf) - 1), 0,
           "garbage after the digits is refused");
    is_str(written(format_len("1999xxx", 4, 2, sizeof(buf) - 1)), "19.99",
           "only len bytes are read");
    is_str(format("-99999999999999999999.999999999999", 3),
           "-99999999999999999.999999999999999", "long both sides");
}


static void
test_currencies(void)
{
    is_str(format("1000", exponent("jpy")), "1000", "JPY 1000 -> 1000");
    is_str(format("1500", exponent("kwd")), "1.5", "KWD 1500 -> 1.5");
    is_str(format("1999", exponent("usd")), "19.99", "USD 1999 -> 19.99");
    is_str(format("1999.5", exponent("usd")), "19.995",
           "USD unit_amount_decimal 1999.5 -> 19.995");
    is_str(format("100000", exponent("isk")), "1000",
           "ISK 100000 -> 1000 (two decimals, always 00)");
    is_str(format("5120", exponent("bhd")), "5.12", "BHD 5120 -> 5.12");
    is_str(format("5000", exponent("ugx")), "5000", "UGX 5000 -> 5000");
}


static void
test_refused(void)
{
    size_t       i;
    char         name[64];
    const char  *bad[] = {
        "", "-", ".", "-.", "1.", ".5", "-.5", "1e3", "1E3", "+1", " 1",
        "1 ", "1,5", "1.2.3", "--1", "0x10", "1.5 ", "1. 5", "\xd9\xa1",
        "NaN", "Infinity", "-1.", "1..5", "1-", "0.0000000000001",
        "1.0000000000000"
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(name, sizeof(name), "\"%s\" is refused", bad[i]);
        is_int(format_len(bad[i], strlen(bad[i]), 2, sizeof(buf) - 1), 0,
               name);
        ok(buf[0] == '#', "  nothing written");
    }

    is_int(format_len("1\0", 2, 2, sizeof(buf) - 1), 0, "a NUL inside");
    is_int(format_len("1999", 4, -1, sizeof(buf) - 1), 0,
           "a negative exponent");
    is_int(format_len(NULL, 0, 2, sizeof(buf) - 1), 0, "no bytes at all");
}


static void
test_size(void)
{
    is_int(format_len("1999", 4, 2, 5), 5, "\"19.99\" fits 5 exactly");
    is_int(format_len("1999", 4, 2, 4), 0, "not 4");
    ok(buf[0] == '#', "  nothing written");
    is_int(format_len("-1999", 5, 2, 5), 0, "the sign counts");
    is_int(format_len("0", 1, 2, 1), 1, "\"0\" fits 1");
    is_int(format_len("0", 1, 2, 0), 0, "not 0");
    is_int(format_len("1", 1, 5, 7), 7, "\"0.00001\" fits 7");
    is_int(format_len("1", 1, 5, 6), 0, "not 6");
    is_int(format_len("1", 1, 0x7fffffff, sizeof(buf) - 1), 0,
           "the largest exponent does not fit and does not overflow");
    is_int(format_len("2000", 4, 2, 2), 2, "\"20\" fits 2");
    is_int(format_len("2000", 4, 2, 1), 0, "not 1");
}


/*
 * Every amount below 10^5, both signs, every exponent used, against the
 * same division done with integers.
 */
static void
test_exhaustive(void)
{
    int            e, sign;
    char           minor[16], expected[32], got[32], *p;
    size_t         n;
    unsigned       failed;
    unsigned long  amount, scale;

    failed = 0;

    for (e = 0; e <= 3; e++) {
        for (scale = 1, n = 0; n < (size_t) e; n++) {
            scale *= 10;
        }

        for (sign = 0; sign < 2; sign++) {
            for (amount = 0; amount < 100000; amount++) {
                snprintf(minor, sizeof(minor), "%s%lu", sign ? "-" : "",
                         amount);

                snprintf(expected, sizeof(expected), "%s%lu.%0*lu",
                         sign && amount ? "-" : "", amount / scale, e,
                         amount % scale);

                /* "12.30" -> "12.3", "12.00" -> "12", "12." -> "12" */
                p = strchr(expected, '.') + e;

                while (*p == '0') {
                    p--;
                }

                p[*p == '.' ? 0 : 1] = '\0';

                n = qbsync_money_format(minor, strlen(minor), e, got,
                                        sizeof(got) - 1);
                got[n] = '\0';

                if (strcmp(got, expected) != 0 && failed++ < 5) {
                    printf("# %s, %d: got \"%s\", expected \"%s\"\n",
                           minor, e, got, expected);
                }
            }
        }
    }

    ok(failed == 0, "every amount below 10^5 agrees with integer division");
}


int
main(void)
{
    test_exponent();
    test_examples();
    test_currencies();
    test_refused();
    test_size();
    test_exhaustive();

    return done();
}
