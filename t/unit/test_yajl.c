
/*
 * Copyright (C) qbsync authors
 */


#include <string.h>

#include "qbsync_yajl.h"
#include "tap.h"


static yajl_val     tree;
static const char  *problem;


static qbsync_yajl_rc_t
parse(const char *json, size_t depth_max)
{
    if (tree) {
        yajl_tree_free(tree);
    }

    problem = NULL;

    return qbsync_yajl_parse((const unsigned char *) json, strlen(json),
                             depth_max, &tree, &problem);
}


static void
refused(const char *json, const char *why, const char *name)
{
    is_int(parse(json, 4), QBSYNC_YAJL_INVALID, name);
    is_str(problem, why, "  says why");
    ok(tree == NULL, "  builds no tree");
}


int
main(void)
{
    is_int(parse("{\"a\":[1,{\"b\":\"c\"}]}", 4), QBSYNC_YAJL_OK,
           "an object");
    ok(YAJL_IS_OBJECT(tree), "  builds it");
    ok(problem == NULL, "  with no problem");

    is_int(parse("[[[[1]]]]", 4), QBSYNC_YAJL_OK, "nesting at the bound");
    refused("[[[[[1]]]]]", "nested too deeply", "nesting past the bound");
    is_int(parse("[\"[[[[[\"]", 4), QBSYNC_YAJL_OK,
           "brackets inside a string are not nesting");
    is_int(parse("[\"\\\"[[[[[\"]", 4), QBSYNC_YAJL_OK,
           "nor after an escaped quote");

    refused("", "empty", "nothing");
    refused("{\"a\":1} /* x */", "invalid JSON", "a comment");
    refused("{\"a\":\"b\\u0000c\"}", "\\u0000 in a string",
            "an escaped NUL that would cut the string short");
    is_int(parse("{\"a\":\"b\\\\u0000c\"}", 4), QBSYNC_YAJL_OK,
           "an escaped backslash before u0000");
    refused("{\"a\":1", "invalid JSON", "truncated");

    is_int(qbsync_yajl_parse((const unsigned char *) "{}\0{}", 5, 4, &tree,
                             &problem),
           QBSYNC_YAJL_INVALID, "a NUL byte");
    ok(tree == NULL, "  builds no tree");

    return done();
}
