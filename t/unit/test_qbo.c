
/*
 * Copyright (C) qbsync authors
 */


#include <stdlib.h>
#include <string.h>

#include "qbsync_qbo.h"
#include "tap.h"
#include "check.h"
#include "fixture.h"
#include "arena.h"


#define XML_FAULT(attributes, error)                                          \
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"        \
    "<IntuitResponse xmlns=\"http://schema.intuit.com/finance/v3\">"          \
    "<Fault" attributes ">" error "</Fault></IntuitResponse>"

#define JSON_FAULT(error)                                                     \
    "{\"Fault\":{\"Error\":[" error "],\"type\":\"ValidationFault\"},"        \
    "\"time\":\"2024-06-23T04:29:11.688-07:00\"}"


static arena_t             arena;
static qbsync_qbo_reply_t  reply;


static qbsync_qbo_rc_t
parse_len(const void *body, size_t len)
{
    arena_reset(&arena);

    return qbsync_qbo_reply_parse(body, len, &arena.allocator, &reply);
}


static qbsync_qbo_rc_t
parse(const char *body)
{
    return parse_len(body, strlen(body));
}


static qbsync_qbo_rc_t
parse_fixture(const char *name)
{
    size_t           len;
    unsigned char   *body;
    qbsync_qbo_rc_t  rc;

    body = fixture_read(name, &len);
    rc = parse_len(body, len);
    free(body);

    return rc;
}


static void
is_item(size_t i, const char *id, const char *sync_token, const char *name,
    const char *sku, unsigned active)
{
    if (!ok(i < reply.nitems, "  item is there")) {
        return;
    }

    if (!arena_holds(&arena, reply.items, reply.nitems * sizeof(*reply.items)))
    {
        ok(0, "  items in the allocator's memory");
    }

    is_held(&arena, reply.items[i].id, id, "  Id");
    is_held(&arena, reply.items[i].sync_token, sync_token, "  SyncToken");
    is_held(&arena, reply.items[i].name, name, "  Name");
    is_held(&arena, reply.items[i].sku, sku, "  Sku");
    is_int(reply.items[i].active, active, "  Active");
}


static void
is_fault(const char *type, long code, const char *message,
    const char *detail)
{
    is_int(reply.fault, 1, "  a fault");
    is_held(&arena, reply.fault_type, type, "  type");
    is_int(reply.code, code, "  code");
    is_held(&arena, reply.message, message, "  message");
    is_held(&arena, reply.detail, detail, "  detail");
}


static void
unparsable(const char *body)
{
    is_int(parse(body), QBSYNC_QBO_UNPARSABLE, tap_name("unparsable: ", body));

    if (reply.fault || reply.nitems || reply.items || reply.code
        || reply.message.len || reply.detail.len || reply.fault_type.len)
    {
        ok(0, "  the reply is left empty");
    }
}


static void
test_items(void)
{
    is_int(parse_fixture("quickbooks/item_create_response_inventory.json"),
           QBSYNC_QBO_OK, "Intuit's create answer");
    is_int(reply.fault, 0, "  no fault");
    is_int(reply.code, 0, "  no code");
    is_int(reply.message.len + reply.detail.len + reply.fault_type.len, 0,
           "  no message, detail or type");
    is_int(reply.nitems, 1, "  one item");
    is_item(0, "19", "0", "Garden Supplies", "", 1);

    is_int(parse_fixture("quickbooks/item_read_response.json"),
           QBSYNC_QBO_OK, "Intuit's read answer");
    is_int(reply.nitems, 1, "  one item");
    is_item(0, "37", "0", "Office Supplies", "", 1);

    is_int(parse_fixture("quickbooks/item_full_update_response.json"),
           QBSYNC_QBO_OK, "Intuit's full update answer");
    is_int(reply.nitems, 1, "  one item");
    is_item(0, "5", "3", "Rock Fountain", "", 1);

    is_int(parse_fixture("quickbooks/item_query_response_services.json"),
           QBSYNC_QBO_OK, "Intuit's query answer");
    is_int(reply.fault, 0, "  no fault");
    is_int(reply.nitems, 2, "  two items");
    is_item(0, "3", "1", "Concrete", "", 1);
    is_item(1, "4", "1", "Design", "", 1);

    is_int(parse("{\"QueryResponse\":{},\"time\":\"2015-04-22T11:04:34Z\"}"),
           QBSYNC_QBO_OK, "a query that matched nothing");
    is_int(reply.nitems, 0, "  no items");
    ok(reply.items == NULL, "  items NULL");
    is_int(reply.fault, 0, "  no fault");

    is_int(parse("{\"QueryResponse\":{\"startPosition\":1,\"maxResults\":0,"
                 "\"Item\":[]}}"),
           QBSYNC_QBO_OK, "an empty Item array");
    is_int(reply.nitems, 0, "  no items");

    is_int(parse("{\"QueryResponse\":{\"Item\":[{\"Id\":\"7\","
                 "\"SyncToken\":\"12\",\"Name\":\"T-shirt (prod_1)\","
                 "\"Sku\":\"prod_1\",\"Active\":false},{\"Id\":\"8\","
                 "\"SyncToken\":\"0\",\"Sku\":null,\"Active\":true}]},"
                 "\"time\":\"x\"}"),
           QBSYNC_QBO_OK, "Sku, inactive, no Name, Sku null");
    is_int(reply.nitems, 2, "  two items");
    is_item(0, "7", "12", "T-shirt (prod_1)", "prod_1", 0);
    is_item(1, "8", "0", "", "", 1);

    is_int(parse("{\"Item\":{\"Id\":\"9\",\"SyncToken\":\"1\","
                 "\"Name\":\"Caf\\u00e9 \\\"Deluxe\\\"\"}}"),
           QBSYNC_QBO_OK, "a name with escapes");
    is_item(0, "9", "1", "Caf\xc3\xa9 \"Deluxe\"", "", 1);

    is_int(parse("\xef\xbb\xbf \r\n{\"Item\":{\"Id\":\"9\","
                 "\"SyncToken\":\"1\"}}"),
           QBSYNC_QBO_OK, "a byte order mark and space before JSON");
    is_item(0, "9", "1", "", "", 1);

    unparsable("{\"Item\":{\"SyncToken\":\"1\",\"Name\":\"x\"}}");
    unparsable("{\"Item\":{\"Id\":\"\",\"SyncToken\":\"1\"}}");
    unparsable("{\"Item\":{\"Id\":9,\"SyncToken\":\"1\"}}");
    unparsable("{\"Item\":{\"Id\":\"9\"}}");
    unparsable("{\"Item\":{\"Id\":\"9\",\"SyncToken\":0}}");
    unparsable("{\"Item\":{\"Id\":\"9\",\"SyncToken\":\"0\",\"Name\":1}}");
    unparsable("{\"Item\":{\"Id\":\"9\",\"SyncToken\":\"0\",\"Sku\":[]}}");
    unparsable("{\"Item\":{\"Id\":\"9\",\"SyncToken\":\"0\","
               "\"Active\":\"true\"}}");
    unparsable("{\"QueryResponse\":{\"Item\":{\"Id\":\"9\","
               "\"SyncToken\":\"0\"}}}");
    unparsable("{\"QueryResponse\":{\"Item\":[{\"Id\":\"9\","
               "\"SyncToken\":\"0\"},1]}}");
    unparsable("{\"Item\":[{\"Id\":\"9\",\"SyncToken\":\"0\"}]}");
}


static void
test_json_faults(void)
{
    is_int(parse_fixture("quickbooks/fault_duplicate_name_6240.json"),
           QBSYNC_QBO_OK, "Intuit's duplicate name fault");
    is_fault("ValidationFault", 6240, "Duplicate Name Exists Error",
             "The name supplied already exists. : null");
    is_int(reply.nitems, 0, "  no items");

    is_int(parse_fixture("quickbooks/"
                         "fault_duplicate_name_6240_lowercase_variant.json"),
           QBSYNC_QBO_OK, "its lowercase variant");
    is_fault("ValidationFault", 6240, "Duplicate Name Exists Error",
             "The name supplied already exists. : null");

    is_int(parse_fixture("quickbooks/fault_tax_service_duplicate_6240.json"),
           QBSYNC_QBO_OK, "a duplicate name fault, pretty-printed");
    is_fault("ValidationFault", 6240, "Duplicate Name Exists Error",
             "The name supplied already exists. : Another tax rate is "
             "already using this \nname. Please use a different name.");

    is_int(parse_fixture("quickbooks/"
                         "fault_401_authentication_failed_3200.json"),
           QBSYNC_QBO_OK, "the gateway's 401 in JSON");
    is_fault("AUTHENTICATION", 3200,
             "message=AuthenticationFailed; errorCode=003200; "
             "statusCode=401",
             "Malformed bearer token: too short or too long");
    is_int(reply.nitems, 0, "  no items (queryResponse null)");

    is_int(parse("{\"QueryResponse\":{\"Fault\":{\"Error\":[{\"Message\":"
                 "\"error parsing query\",\"Detail\":\"QueryParserError: "
                 "Encountered \\\" <ID> \\\"Itemz\\\"\",\"code\":\"4000\"}],"
                 "\"type\":\"ValidationFault\"}},\"time\":\"x\"}"),
           QBSYNC_QBO_OK, "a fault inside QueryResponse");
    is_fault("ValidationFault", 4000, "error parsing query",
             "QueryParserError: Encountered \" <ID> \"Itemz\"");

    is_int(parse("{\"Fault\":{\"Error\":[{\"Message\":\"m\",\"code\":6240},"
                 "{\"Message\":\"second\",\"code\":\"1\"}],"
                 "\"type\":\"ValidationFault\"}}"),
           QBSYNC_QBO_OK, "a numeric code; the first error counts");
    is_fault("ValidationFault", 6240, "m", "");

    is_int(parse("{\"fault\":{\"error\":{\"message\":\"m\",\"code\":\"7\"},"
                 "\"type\":\"SERVICE\"}}"),
           QBSYNC_QBO_OK, "an error object rather than an array");
    is_fault("SERVICE", 7, "m", "");

    is_int(parse("{\"Fault\":{\"Error\":[],\"type\":\"SystemFault\"}}"),
           QBSYNC_QBO_OK, "a fault without errors");
    is_fault("SystemFault", 0, "", "");

    is_int(parse("{\"Fault\":{}}"), QBSYNC_QBO_OK, "an empty fault");
    is_fault("", 0, "", "");

    is_int(parse(JSON_FAULT("{\"code\":\"abc\",\"Message\":null}")),
           QBSYNC_QBO_OK, "a code that is no number");
    is_fault("ValidationFault", 0, "", "");

    is_int(parse(JSON_FAULT("{\"code\":\"99999999999999999999999\"}")),
           QBSYNC_QBO_OK, "a code too large");
    is_int(reply.code, 0, "  no code");

    is_int(parse(JSON_FAULT("{\"code\":-5}")), QBSYNC_QBO_OK,
           "a negative code");
    is_int(reply.code, 0, "  no code");

    is_int(parse(JSON_FAULT("{\"code\":1.5}")), QBSYNC_QBO_OK,
           "a fractional code");
    is_int(reply.code, 0, "  no code");

    is_int(parse("{\"Fault\":null,\"fault\":{\"type\":\"x\"}}"),
           QBSYNC_QBO_OK, "Fault null, fault an object");
    is_fault("x", 0, "", "");

    is_int(parse("{\"Fault\":{\"type\":\"x\"},\"Item\":{\"Id\":\"1\","
                 "\"SyncToken\":\"0\"}}"),
           QBSYNC_QBO_OK, "a fault beside an item");
    is_int(reply.fault, 1, "  a fault");
    is_int(reply.nitems, 1, "  and the item");
}


static void
test_xml_faults(void)
{
    is_int(parse_fixture("quickbooks/fault_401_general_authentication_100.xml"),
           QBSYNC_QBO_OK, "the 401 in XML");
    is_fault("AuthenticationFault", 100, "General Authentication Error",
             "AuthenticationErrorGeneral: SRV-110-Authentication Failure , "
             "statusCode: 401");
    is_int(reply.nitems, 0, "  no items");

    is_int(parse_fixture("quickbooks/fault_429_throttle_exceeded_3001.xml"),
           QBSYNC_QBO_OK, "the 429 in XML");
    is_fault("SERVICE", 3001,
             "message=ThrottleExceeded; errorCode=003001; statusCode=429",
             "The request limit was reached.  Try again later");

    is_int(parse(XML_FAULT(" type=\"ValidationFault\"",
                           "<Error code=\"6240\" element=\"Name\">"
                           "<Message>a &lt;b&gt; &amp; &quot;q&quot; "
                           "&apos;s&apos;</Message>"
                           "<Detail>&#65;&#x42;&#xe9;&#x20AC;&#x1F600;"
                           "&#0065;</Detail></Error>")),
           QBSYNC_QBO_OK, "the five entities and numeric references");
    is_fault("ValidationFault", 6240, "a <b> & \"q\" 's'",
             "AB\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" "A");

    is_int(parse(XML_FAULT(" type='x &amp; y'",
                           "<Error code='1'><Message>&nbsp; &#0; &#xD800; "
                           "&#x110000; &#; &#x; &#12a; & alone &amp"
                           "</Message><Detail>&#xFFFFFFFFFFFF;</Detail>"
                           "</Error>")),
           QBSYNC_QBO_OK, "references we do not decode are kept as written");
    is_fault("x & y", 1,
             "&nbsp; &#0; &#xD800; &#x110000; &#; &#x; &#12a; & alone &amp",
             "&#xFFFFFFFFFFFF;");

    is_int(parse(XML_FAULT(" type=\"T\"",
                           "<Error code=\" 42 \"><Message>a<!-- note -->b"
                           "<?pi x?>c</Message><Detail><![CDATA[<raw> &amp;"
                           "]]> &amp;</Detail></Error>")),
           QBSYNC_QBO_OK, "comments, processing instructions and CDATA");
    is_fault("T", 42, "abc", "<raw> &amp; &");

    is_int(parse("<ns2:IntuitResponse xmlns:ns2=\"http://schema.intuit.com/"
                 "finance/v3\"><ns2:Fault type=\"SystemFault\">"
                 "<ns2:Error code=\"10000\"><ns2:Message>m</ns2:Message>"
                 "<ns2:Detail>d</ns2:Detail></ns2:Error></ns2:Fault>"
                 "</ns2:IntuitResponse>"),
           QBSYNC_QBO_OK, "namespace prefixes");
    is_fault("SystemFault", 10000, "m", "d");

    is_int(parse("<IntuitResponse><QueryResponse><Fault type=\"V\">"
                 "<Error code=\"4000\"><Message>m</Message></Error>"
                 "</Fault></QueryResponse></IntuitResponse>"),
           QBSYNC_QBO_OK, "a fault inside QueryResponse");
    is_fault("V", 4000, "m", "");

    is_int(parse("<IntuitResponse><Fault type=\"A\"><Error code=\"1\">"
                 "<Message>first</Message><Message>second</Message>"
                 "<Detail/></Error><Error code=\"2\"><Message>x</Message>"
                 "</Error></Fault><Fault type=\"B\"/></IntuitResponse>"),
           QBSYNC_QBO_OK, "the first fault's first error counts");
    is_fault("A", 1, "first", "");

    is_int(parse("<IntuitResponse><Fault type=\"A\"><Error code=\"1\">"
                 "<Message>a<b>c</b>d</Message></Error></Fault>"
                 "</IntuitResponse>"),
           QBSYNC_QBO_OK, "a message with an element inside");
    is_fault("A", 1, "", "");

    is_int(parse("<IntuitResponse><Fault/></IntuitResponse>"),
           QBSYNC_QBO_OK, "an empty fault");
    is_fault("", 0, "", "");

    is_int(parse("<IntuitResponse><Fault type=\"A\"><Other><Error code=\"1\">"
                 "<Message>m</Message></Error></Other><Error code=\"2\"/>"
                 "</Fault></IntuitResponse>"),
           QBSYNC_QBO_OK, "an Error elsewhere is not the fault's");
    is_fault("A", 2, "", "");

    is_int(parse(XML_FAULT("", "<Error><Message>caf\xe9 \xc3\xa9 \xed\xa0\x80"
                               " \xf4\x90\x80\x80 \xc0\xaf \xe2\x82"
                               "</Message></Error>")),
           QBSYNC_QBO_OK, "bytes that are not UTF-8");
    is_held(&arena, reply.message, "caf? \xc3\xa9 ??? ???? ?? ??", "  become '?'");

    is_int(parse("\xef\xbb\xbf\n  <IntuitResponse><Fault type=\"A\"/>"
                 "</IntuitResponse>\n<!-- end -->\n"),
           QBSYNC_QBO_OK, "a byte order mark, space and a comment around");

    /* the module asks for JSON; QuickBooks answers successes that way */
    unparsable("<IntuitResponse><Item><Id>1</Id><SyncToken>0</SyncToken>"
               "<Name>x</Name></Item></IntuitResponse>");
    unparsable("<IntuitResponse/>");
}


static void
test_xml_malformed(void)
{
    size_t  i;
    char    deep[1024];

    unparsable("<");
    unparsable("<>");
    unparsable("< IntuitResponse/>");
    unparsable("<IntuitResponse><Fault/>");
    unparsable("<IntuitResponse><Fault></IntuitResponse>");
    unparsable("<IntuitResponse><Fault></Fault ></IntuitResponse");
    unparsable("<IntuitResponse><Fault></fault></IntuitResponse>");
    unparsable("<IntuitResponse><Fault/></IntuitResponse><IntuitResponse/>");
    unparsable("<IntuitResponse><Fault/></IntuitResponse>x");
    unparsable("x<IntuitResponse><Fault/></IntuitResponse>");
    unparsable("<Fault type=\"A\"/>");
    unparsable("<IntuitResponse><Fault type=\"A></IntuitResponse>");
    unparsable("<IntuitResponse><Fault type=A/></IntuitResponse>");
    unparsable("<IntuitResponse><Fault type/></IntuitResponse>");
    unparsable("<IntuitResponse><Fault type=\"a\"code=\"1\"/>"
               "</IntuitResponse>");
    unparsable("<IntuitResponse><Fault type=\"a<\"/></IntuitResponse>");
    unparsable("<IntuitResponse><Fault / ></IntuitResponse>");
    unparsable("<IntuitResponse><Fault><!-- x </Fault></IntuitResponse>");
    unparsable("<IntuitResponse><Fault><![CDATA[ x </Fault>"
               "</IntuitResponse>");
    unparsable("<IntuitResponse><Fault><? x </Fault></IntuitResponse>");
    unparsable("<![CDATA[x]]><IntuitResponse><Fault/></IntuitResponse>");
    unparsable("<!DOCTYPE IntuitResponse [<!ENTITY x \"y\">]>"
               "<IntuitResponse><Fault/></IntuitResponse>");
    unparsable("</IntuitResponse>");
    unparsable("<!DOCTYPE html><html><head><title>502 Bad Gateway</title>"
               "</head><body><h1>Bad Gateway</h1></body></html>");
    unparsable("<html>\r\n<head><title>503 Service Temporarily Unavailable"
               "</title></head>\r\n<body>\r\n<center><h1>503 Service "
               "Temporarily Unavailable</h1></center>\r\n</body>\r\n"
               "</html>\r\n");

    strcpy(deep, "<IntuitResponse><Fault/>");

    for (i = 0; i < 31; i++) {
        strcat(deep, "<a>");
    }

    strcat(deep, "</IntuitResponse>");
    unparsable(deep);

    strcpy(deep, "<IntuitResponse><Fault/>");

    for (i = 0; i < 30; i++) {
        strcat(deep, "<a>");
    }

    for (i = 0; i < 30; i++) {
        strcat(deep, "</a>");
    }

    strcat(deep, "</IntuitResponse>");
    is_int(parse(deep), QBSYNC_QBO_OK, "32 levels of elements");
    is_int(reply.fault, 1, "  the fault");

    memmove(deep + 3, deep, strlen(deep) + 1);
    memcpy(deep, "<a>", 3);
    unparsable(deep);
}


static void
test_detail_cut(void)
{
    char    json[1024], xml[1024], *p, *start;
    size_t  i, n;

    static const struct {
        const char  *tail;
        size_t       pad;
        size_t       expected;
    } cuts[] = {
        { "", 400, 400 },
        { "", 401, 400 },
        { "x", 500, 400 },
        { "\xc3\xa9", 399, 399 },        /* é across the limit */
        { "\xc3\xa9", 398, 400 },        /* é ends at the limit */
        { "\xe2\x82\xac", 398, 398 },    /* € across the limit */
        { "\xe2\x82\xac", 399, 399 },
        { "\xe2\x82\xac", 397, 400 },
        { "\xf0\x9f\x98\x80", 397, 397 },
        { "\xf0\x9f\x98\x80", 396, 400 }
    };

    for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        start = json + sprintf(json,
                               "{\"Fault\":{\"Error\":[{\"Detail\":\"");
        p = start;
        memset(p, 'a', cuts[i].pad);
        p += cuts[i].pad;
        p += sprintf(p, "%s%s\"}]}}", cuts[i].tail, cuts[i].tail);

        is_int(parse(json), QBSYNC_QBO_OK, "a long detail in JSON");
        n = cuts[i].expected;
        is_int(reply.detail.len, n, "  cut");
        ok(memcmp(reply.detail.data, start, n) == 0, "  the first bytes");

        p = xml + sprintf(xml, "<IntuitResponse><Fault><Error><Detail>");
        memset(p, 'a', cuts[i].pad);
        p += cuts[i].pad;
        p += sprintf(p, "%s%s</Detail></Error></Fault></IntuitResponse>",
                     cuts[i].tail, cuts[i].tail);

        is_int(parse(xml), QBSYNC_QBO_OK, "the same in XML");
        is_int(reply.detail.len, n, "  cut");
    }

    p = xml + sprintf(xml, "<IntuitResponse><Fault><Error><Detail>");

    for (i = 0; i < 150; i++) {
        p += sprintf(p, "&#x20AC;");
    }

    sprintf(p, "</Detail></Error></Fault></IntuitResponse>");

    is_int(parse(xml), QBSYNC_QBO_OK, "a detail of references");
    is_int(reply.detail.len, 399, "  cut after decoding, at a character");
}


static void
test_unparsable(void)
{
    size_t          i;
    unsigned char  *body;

    static const char  *requests[] = {
        "quickbooks/batch_response_with_faults.json",
        "quickbooks/batch_request.json",
        "quickbooks/item_create_request_inventory.json",
        "quickbooks/item_full_update_request.json",
        "quickbooks/oauth_discovery_production.json",
        "quickbooks/oauth_failure_token_response.json",
        "quickbooks/oauth_success_refreshtoken_response.json"
    };

    /* a batch answer holds one fault per item: it needs its own reading */
    for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        is_int(parse_fixture(requests[i]), QBSYNC_QBO_UNPARSABLE,
               tap_name("not an answer of ours: ", requests[i]));
    }

    is_int(parse_len("", 0), QBSYNC_QBO_UNPARSABLE, "an empty body");
    is_int(parse_len(NULL, 0), QBSYNC_QBO_UNPARSABLE, "no body at all");
    unparsable(" \r\n\t");
    unparsable("\xef\xbb\xbf");
    unparsable("Internal Server Error");
    unparsable("garbage");
    unparsable("[]");
    unparsable("[{\"Fault\":{}}]");
    unparsable("\"Fault\"");
    unparsable("null");
    unparsable("{}");
    unparsable("{\"time\":\"2024-06-23T04:29:11.688-07:00\"}");
    unparsable("{\"QueryResponse\":null}");
    unparsable("{\"Fault\":\"x\"}");
    unparsable("{");
    unparsable("{\"Fault\":{}} x");
    unparsable("{\"Fault\":{}}{}");
    unparsable("{\"Fault\":{}} /* c */");
    unparsable("{\"Fault\":{\"type\":\"a\\u0000b\"}}");
    unparsable("{\"Fault\":{\"type\":\"\xff\"}}");

    is_int(parse("{\"Fault\":{\"type\":\"a\\\\u0000b\"}}"), QBSYNC_QBO_OK,
           "an escaped backslash before u0000");
    is_held(&arena, reply.fault_type, "a\\u0000b", "  is text");

    is_int(parse_len("{\"Fault\":{}}\0", 13), QBSYNC_QBO_UNPARSABLE,
           "a NUL byte after the JSON");

    body = malloc(200002);
    if (body == NULL) {
        printf("Bail out! out of memory\n");
        exit(1);
    }

    memset(body, '[', 100001);
    memset(body + 100001, ']', 100001);
    body[0] = '{';
    is_int(parse_len(body, 200002), QBSYNC_QBO_UNPARSABLE,
           "JSON nested too deeply");
    is_int(parse_len(body, 100001), QBSYNC_QBO_UNPARSABLE,
           "  and cut short");
    free(body);
}


/* every prefix of a fixture short of its last character is refused */
static void
test_truncated(void)
{
    size_t          i, j, len, bad;
    unsigned char  *body, *copy;

    static const char  *fixtures[] = {
        "quickbooks/item_create_response_inventory.json",
        "quickbooks/item_query_response_services.json",
        "quickbooks/fault_duplicate_name_6240.json",
        "quickbooks/fault_duplicate_name_6240_lowercase_variant.json",
        "quickbooks/fault_401_authentication_failed_3200.json",
        "quickbooks/fault_401_general_authentication_100.xml",
        "quickbooks/fault_429_throttle_exceeded_3001.xml"
    };

    for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        body = fixture_read(fixtures[i], &len);
        bad = 0;

        for (j = 0; j + 1 < len; j++) {
            /* each prefix in its own allocation, for valgrind */
            copy = malloc(j ? j : 1);
            if (copy == NULL) {
                printf("Bail out! out of memory\n");
                exit(1);
            }

            memcpy(copy, body, j);
            bad += (parse_len(copy, j) != QBSYNC_QBO_UNPARSABLE);
            free(copy);
        }

        is_int(bad, 0, tap_name("every truncation: ", fixtures[i]));
        is_int(parse_len(body, len), QBSYNC_QBO_OK, "  the whole is OK");

        free(body);
    }
}


/* every allocation that fails is NOMEM, and nothing leaks */
static void
test_nomem(void)
{
    size_t           i, n, total, len, bad;
    unsigned char   *body;
    qbsync_qbo_rc_t  rc;

    static const char  *fixtures[] = {
        "quickbooks/item_query_response_services.json",
        "quickbooks/fault_duplicate_name_6240.json",
        "quickbooks/fault_429_throttle_exceeded_3001.xml"
    };

    for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        body = fixture_read(fixtures[i], &len);

        parse_len(body, len);
        total = arena.count;
        bad = 0;

        for (n = 0; n < total; n++) {
            arena_reset(&arena);
            arena.fail_after = n;

            rc = qbsync_qbo_reply_parse(body, len, &arena.allocator, &reply);

            bad += (rc != QBSYNC_QBO_NOMEM || reply.fault || reply.nitems);
        }

        arena.fail_after = (size_t) -1;

        ok(total >= 3, tap_name("allocations counted: ", fixtures[i]));
        is_int(bad, 0, "  NOMEM whichever fails, the reply left empty");

        free(body);
    }
}


int
main(void)
{
    arena_init(&arena);

    test_items();
    test_json_faults();
    test_xml_faults();
    test_xml_malformed();
    test_detail_cut();
    test_unparsable();
    test_truncated();
    test_nomem();

    arena_reset(&arena);

    return done();
}
