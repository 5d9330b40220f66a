
/*
 * Copyright (C) qbsync authors
 */


#include <string.h>

#include "qbsync_yajl.h"
#include "tap.h"
#include "arena.h"


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


static arena_t             arena;
static const char *const   keep[] = { "id", "data", "object", "n", NULL };


static qbsync_yajl_rc_t
parse_some(const char *json)
{
    arena_reset(&arena);
    problem = NULL;

    return qbsync_yajl_parse_some((const unsigned char *) json,
                                  strlen(json), 4, keep, &arena.allocator,
                                  &tree, &problem);
}


static const char *
string_at(const char *a, const char *b)
{
    yajl_val     v;
    const char  *path[3];

    path[0] = a;
    path[1] = b;
    path[2] = NULL;

    v = yajl_tree_get(tree, path, yajl_t_string);

    return v ? v->u.string : NULL;
}


static void
test_some(void)
{
    size_t            n, total;
    qbsync_yajl_rc_t  rc;
    const char       *json;

    json = "{\"id\":\"evt_1\",\"metadata\":{\"id\":\"no\",\"x\":[1,{}]},"
           "\"data\":{\"object\":{\"id\":\"prod_1\",\"images\":[\"a\"],"
           "\"n\":-1.50e3}},\"id\":\"second\"}";

    is_int(parse_some(json), QBSYNC_YAJL_OK, "some members of an object");
    ok(YAJL_IS_OBJECT(tree) && tree->u.object.len == 3,
       "  the kept ones only, duplicates included");
    is_str(tree->u.object.keys[0], "id", "  in their order");
    is_str(tree->u.object.keys[1], "data", "  in their order");
    is_str(string_at("id", NULL), "evt_1", "  the first of a name wins");
    ok(yajl_tree_get(tree, (const char *[]) { "data", "object", NULL },
                     yajl_t_object) != NULL, "  an object inside");
    is_str(yajl_tree_get(tree, (const char *[]) { "data", "object", "id",
                                                  NULL }, yajl_t_string)
           ->u.string, "prod_1", "  and what it holds");
    ok(yajl_tree_get(tree, (const char *[]) { "data", "object", "images",
                                              NULL }, yajl_t_any) == NULL,
       "  a member not kept, inside a kept one, is left out");
    ok(arena_holds(&arena, tree, sizeof(*tree)), "  in the arena");

    is_int(parse_some("{\"data\":{\"object\":{\"n\":-1.50e3}}}"),
           QBSYNC_YAJL_OK, "a number");
    {
        yajl_val  v;

        v = yajl_tree_get(tree, (const char *[]) { "data", "object", "n",
                                                   NULL }, yajl_t_number);
        is_str(v ? v->u.number.r : NULL, "-1.50e3", "  as written");
    }

    is_int(parse_some("[1,\"a\",null,true,false,[],{}]"), QBSYNC_YAJL_OK,
           "an array keeps every element");
    ok(YAJL_IS_ARRAY(tree) && tree->u.array.len == 7, "  all seven");
    ok(YAJL_IS_NULL(tree->u.array.values[2])
       && YAJL_IS_TRUE(tree->u.array.values[3])
       && YAJL_IS_FALSE(tree->u.array.values[4])
       && YAJL_IS_ARRAY(tree->u.array.values[5])
       && YAJL_IS_OBJECT(tree->u.array.values[6]), "  each of its type");

    is_int(parse_some("\"just a string\""), QBSYNC_YAJL_OK, "a string");
    ok(YAJL_IS_STRING(tree) && strcmp(tree->u.string, "just a string") == 0,
       "  is the root");

    is_int(parse_some("{\"skip\":[[[[1]]]]}"), QBSYNC_YAJL_INVALID,
           "nesting past the bound, in a member not kept");
    is_str(problem, "nested too deeply", "  says why");
    is_int(parse_some("{\"skip\":\"a\\u0000b\"}"), QBSYNC_YAJL_INVALID,
           "\\u0000 in a member not kept");
    is_str(problem, "\\u0000 in a string", "  says why");
    is_int(parse_some("{\"id\":1} /* c */"), QBSYNC_YAJL_INVALID,
           "a comment");
    is_str(problem, "invalid JSON", "  says why");
    is_int(parse_some("{\"id\":1} 2"), QBSYNC_YAJL_INVALID,
           "a second value");
    is_int(parse_some("{\"id\":\"\xff\"}"), QBSYNC_YAJL_INVALID,
           "a string that is not UTF-8");
    is_int(parse_some(""), QBSYNC_YAJL_INVALID, "nothing");
    is_str(problem, "empty", "  says why");

    /* every allocation of the arena may fail: NOMEM, never a crash */
    arena_reset(&arena);
    (void) parse_some(json);
    total = arena.count;

    for (n = 0, rc = QBSYNC_YAJL_NOMEM; n < total; n++) {
        arena_reset(&arena);
        arena.fail_after = n;
        rc = qbsync_yajl_parse_some((const unsigned char *) json,
                                    strlen(json), 4, keep,
                                    &arena.allocator, &tree, &problem);
        if (rc != QBSYNC_YAJL_NOMEM) {
            break;
        }
    }

    is_int(n, total, "each failed allocation is NOMEM");
    arena.fail_after = (size_t) -1;
    tree = NULL;
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

    yajl_tree_free(tree);
    tree = NULL;

    arena_init(&arena);
    test_some();

    arena_reset(&arena);

    return done();
}
