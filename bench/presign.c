
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
 * With PRODUCTS and PRODUCT_RUN (bench/sync), every
 * "PPPPPPPPPPPPPPPPPPPPPPPP" of the template (the product id, and its name)
 * becomes <PRODUCT_RUN><product as 16 hex digits> as well, the product of
 * event i being 1 + (i - 1) mod PRODUCTS; the first line then also gives
 * PRODUCTS and PRODUCT_RUN.
 *
 * Usage: presign TEMPLATE SECRET COUNT RUN [PRODUCTS PRODUCT_RUN]
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>


#define PRESIGN_PLACEHOLDER  "evt_XXXXXXXXXXXXXXXXXXXXXXXX"
#define PRESIGN_PRODUCT      "PPPPPPPPPPPPPPPPPPPPPPPP"
#define PRESIGN_PRODUCTS_MAX 16


int
main(int argc, char **argv)
{
    int             n, k, nproducts;
    long            i, count, products;
    char           *id, *p, *product[PRESIGN_PRODUCTS_MAX], hex[65];
    FILE           *file;
    size_t          len, prefix;
    time_t          t;
    unsigned int    mac_len;
    unsigned char   mac[EVP_MAX_MD_SIZE];
    static char     body[65536], signed_payload[65600];

    if ((argc != 5 && argc != 7) || strlen(argv[4]) != 8
        || (argc == 7 && (strlen(argv[6]) != 8 || atol(argv[5]) < 1))
        || (file = fopen(argv[1], "rb")) == NULL)
    {
        fprintf(stderr, "usage: presign TEMPLATE SECRET COUNT RUN "
                        "[PRODUCTS PRODUCT_RUN]\n");
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

    nproducts = 0;
    products = 0;

    if (argc == 7) {
        products = atol(argv[5]);

        for (p = strstr(signed_payload + prefix, PRESIGN_PRODUCT);
             p != NULL && nproducts < PRESIGN_PRODUCTS_MAX;
             p = strstr(p + 24, PRESIGN_PRODUCT))
        {
            product[nproducts++] = p;
        }

        if (nproducts == 0) {
            fprintf(stderr, "presign: the template has no product "
                            "placeholder\n");
            return 2;
        }

        printf("%ld %s %ld %s\n", (long) t, argv[4], products, argv[6]);

    } else {
        printf("%ld %s\n", (long) t, argv[4]);
    }

    for (i = 1; i <= count; i++) {
        snprintf(hex, sizeof(hex), "%s%016lx", argv[4], i);
        memcpy(id + 4, hex, 24);

        if (nproducts) {
            snprintf(hex, sizeof(hex), "%s%016lx", argv[6],
                     1 + (i - 1) % products);

            for (k = 0; k < nproducts; k++) {
                memcpy(product[k], hex, 24);
            }
        }

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
