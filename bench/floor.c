
/*
 * Copyright (C) qbsync authors
 */


/*
 * The gate's physical floor on this machine: the two pieces of work no
 * implementation can skip for a valid delivery, timed alone on the body
 * the benchmark sends.  Usage: floor BODY-FILE
 */


#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "qbsync_event.h"
#include "qbsync_signature.h"


#define FLOOR_ROUNDS  200000


static double
floor_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


int
main(int argc, char **argv)
{
    int                      i;
    FILE                    *file;
    size_t                   len;
    double                   start, hmac_us, parse_us;
    qbsync_chunk_t           body;
    qbsync_event_t           event;
    qbsync_signature_key_t  *key;
    static unsigned char     data[65536];
    unsigned char            mac[QBSYNC_SIGNATURE_MAC_LEN];

    if (argc != 2 || (file = fopen(argv[1], "rb")) == NULL) {
        fprintf(stderr, "usage: floor BODY-FILE\n");
        return 2;
    }

    len = fread(data, 1, sizeof(data), file);
    fclose(file);

    body.data = data;
    body.len = len;

    key = qbsync_signature_key_new((const unsigned char *) "whsec_floor", 11);
    if (key == NULL) {
        return 1;
    }

    start = floor_now();

    for (i = 0; i < FLOOR_ROUNDS; i++) {
        if (qbsync_signature_compute(key, 1700000000, &body, 1, mac) != 0) {
            return 1;
        }
    }

    hmac_us = (floor_now() - start) * 1e6 / FLOOR_ROUNDS;

    start = floor_now();

    for (i = 0; i < FLOOR_ROUNDS; i++) {
        if (qbsync_event_parse(&body, 1, &event) != QBSYNC_EVENT_OK) {
            return 1;
        }
    }

    parse_us = (floor_now() - start) * 1e6 / FLOOR_ROUNDS;

    printf("%.2f %.2f\n", hmac_us, parse_us);

    qbsync_signature_key_free(key);

    return 0;
}
