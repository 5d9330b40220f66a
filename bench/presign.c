
/*
 * Copyright (C) qbsync authors
 */


/*
 * Signs, the way Stripe does, COUNT events made from a template body
 * whose id "evt_XXXXXXXXXXXXXXXXXXXXXXXX" becomes evt_<RUN><index as 16 hex
 * digits>: v1 = hex(HMAC-SHA256(secret, t "." body)).  Prints t and RUN on
 * the first line, then one v1 a line, so that wrk only has to put each
 * request together.  OpenSSL's one-shot HMAC(), not the module's code.
 *
 * Usage: presign TEMPLATE SECRET COUNT RUN
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>


#define PRESIGN_PLACEHOLDER  "evt_XXXXXXXXXXXXXXXXXXXXXXXX"


int
main(int argc, char **argv)
{
    int             n;
    long            i, count;
    char           *id, hex[65];
    FILE           *file;
    size_t          len, prefix;
    time_t          t;
    unsigned int    mac_len;
    unsigned char   mac[EVP_MAX_MD_SIZE];
    static char     body[65536], signed_payload[65600];

    if (argc != 5 || strlen(argv[4]) != 8
        || (file = fopen(argv[1], "rb")) == NULL)
    {
        fprintf(stderr, "usage: presign TEMPLATE SECRET COUNT RUN\n");
        return 2;
    }

    len = fread(body, 1, sizeof(body) - 1, file);
    fclose(file);

    id = strstr(body, PRESIGN_PLACEHOLDER);
    if (id == NULL) {
        fprintf(stderr, "presign: the template has no placeholder id\n");
        return 2;
    }

    count = atol(argv[3]);
    t = time(NULL);

    n = snprintf(signed_payload, sizeof(signed_payload), "%ld.", (long) t);
    prefix = (size_t) n;
    memcpy(signed_payload + prefix, body, len);
    id = signed_payload + prefix + (id - body);

    printf("%ld %s\n", (long) t, argv[4]);

    for (i = 1; i <= count; i++) {
        snprintf(hex, sizeof(hex), "%s%016lx", argv[4], i);
        memcpy(id + 4, hex, 24);

        if (HMAC(EVP_sha256(), argv[2], (int) strlen(argv[2]),
                 (unsigned char *) signed_payload, prefix + len, mac,
                 &mac_len)
            == NULL)
        {
            return 1;
        }

        for (n = 0; n < (int) mac_len; n++) {
            snprintf(hex + 2 * n, 3, "%02x", mac[n]);
        }

        puts(hex);
    }

    return 0;
}
