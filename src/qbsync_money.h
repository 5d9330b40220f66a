
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_MONEY_H_INCLUDED_
#define _QBSYNC_MONEY_H_INCLUDED_


#include <stddef.h>


/* "-" digits "." 12 digits, and the longest amount Stripe allows */
#define QBSYNC_MONEY_TEXT_MAX  48


/*
 * How many decimals Stripe's minor unit has for an ISO 4217 code (any
 * case): 0 for the zero-decimal currencies (BIF CLP DJF GNF JPY KMF KRW
 * MGA PYG RWF UGX VND VUV XAF XOF XPF), 3 for BHD JOD KWD OMR TND, 2 for
 * every other code, ISK, HUF and TWD included (docs/mapping.md says why).
 */
int qbsync_money_exponent(const char *currency, size_t len);

/*
 * minor / 10^exponent, exactly, as a plain decimal: no exponent, no '+',
 * no leading zeros but the one before the point, no trailing zeros after
 * it, no point for a whole number; "-0" is written "0".
 *
 *   "1999", 2 -> "19.99"     "1500", 3 -> "1.5"     "1000", 0 -> "1000"
 *   "2000", 2 -> "20"        "12.5", 2 -> "0.125"   "007", 2 -> "0.07"
 *
 * minor is Stripe's unit_amount_decimal: an optional '-', one or more
 * digits, then optionally a '.' and 1 to 12 digits ("1." and ".5" are
 * refused).  Returns the bytes written (no NUL), or 0 if minor is not such
 * a decimal, exponent is negative, or the result does not fit in size.
 */
size_t qbsync_money_format(const char *minor, size_t len, int exponent,
    char *buf, size_t size);


#endif /* _QBSYNC_MONEY_H_INCLUDED_ */
