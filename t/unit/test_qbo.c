
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


/* a fixture and what reads it */
typedef struct {
    const char       *name;
    qbsync_qbo_rc_t (*parse)(const void *body, size_t len);
} fixture_parse_t;


static arena_t             arena;
static qbsync_qbo_reply_t  reply;
static qbsync_qbo_batch_t  batch;


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
parse_batch_len(const void *body, size_t len)
{
    arena_reset(&arena);

    return qbsync_qbo_batch_parse(body, len, &arena.allocator, &batch);
}


static qbsync_qbo_rc_t
parse_fixture_with(qbsync_qbo_rc_t (*parse)(const void *, size_t),
    const char *name)
{
    size_t           len;
    unsigned char   *body;
    qbsync_qbo_rc_t  rc;

    body = fixture_read(name, &len);
    rc = parse(body, len);
    free(body);

    return rc;
}


static qbsync_qbo_rc_t
parse_fixture(const char *name)
{
    return parse_fixture_with(parse_len, name);
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


/*
 * The batch answer's member i, with that bId: its reply becomes the one
 * is_item() and is_fault() look at.
 */
static int
batch_answer(size_t i, const char *bid)
{
    if (!ok(i < batch.nitems, tap_name("  a member with bId ", bid))) {
        return 0;
    }

    if (!arena_holds(&arena, batch.items, batch.nitems * sizeof(*batch.items)))
    {
        ok(0, "  members in the allocator's memory");
    }

    is_held(&arena, batch.items[i].bid, bid, "  bId");
    reply = batch.items[i].reply;

    return 1;
}


static void
batch_ok(const char *body, size_t nitems, const char *name)
{
    is_int(parse_batch_len(body, strlen(body)), QBSYNC_QBO_OK, name);
    is_int(batch.nitems, nitems, "  its members");
}


static void
batch_unparsable(const char *body)
{
    is_int(parse_batch_len(body, strlen(body)), QBSYNC_QBO_UNPARSABLE,
           tap_name("batch unparsable: ", body));
}


static void
test_batch(void)
{
    is_int(parse_fixture_with(parse_batch_len,
                              "quickbooks/batch_response_with_faults.json"),
           QBSYNC_QBO_OK, "Intuit's batch answer with faults");
    is_int(batch.nitems, 4, "  four members");

    if (batch_answer(0, "bid1")) {
        is_fault("ValidationFault", 6240, "Duplicate Name Exists Error",
                 "The name supplied already exists. : Another customer, "
                 "vendor or employee is already using this \nname. Please "
                 "use a different name.");
        is_int(reply.nitems, 0, "  no items");
    }

    if (batch_answer(1, "bid2")) {
        is_int(reply.code, 610, "  610, the object gone");
    }

    if (batch_answer(2, "bid3")) {
        is_fault("ValidationFault", 5010, "Stale Object Error",
                 "Stale Object Error : You and root were working on this at "
                 "the same time. root finished before you did, so your work "
                 "was not saved.");
    }

    if (batch_answer(3, "bid4")) {
        is_int(reply.fault, 0, "  a QueryResponse of SalesReceipts: no fault");
        is_int(reply.nitems, 0, "  and no items");
        ok(reply.items == NULL, "  items NULL");
    }

    batch_ok("{\"BatchItemResponse\":[{\"Item\":{\"Id\":\"19\","
             "\"SyncToken\":\"0\",\"Name\":\"Widget\","
             "\"Sku\":\"prod_1\"},\"bId\":\"0\"},{\"bId\":\"1\","
             "\"Item\":{\"Id\":\"20\",\"SyncToken\":\"3\","
             "\"Name\":\"Gadget\",\"Sku\":\"prod_2\","
             "\"Active\":false}}],"
             "\"time\":\"2024-06-23T04:29:11.688-07:00\"}",
             2, "two items written");

    if (batch_answer(0, "0")) {
        is_int(reply.fault, 0, "  no fault");
        is_int(reply.nitems, 1, "  one item");
        is_item(0, "19", "0", "Widget", "prod_1", 1);
    }

    if (batch_answer(1, "1")) {
        is_item(0, "20", "3", "Gadget", "prod_2", 0);
    }

    batch_ok("{\"BatchItemResponse\":[{\"bId\":\"2\",\"Fault\":"
             "{\"Error\":[{\"Message\":\"Stale Object Error\","
             "\"code\":\"5010\"}],\"type\":\"ValidationFault\"}},"
             "{\"bId\":\"0\",\"Item\":{\"Id\":\"7\","
             "\"SyncToken\":\"1\"}},{\"bId\":\"1\",\"Fault\":"
             "{\"Error\":[{\"Message\":\"Duplicate Name Exists "
             "Error\",\"Detail\":\"d\",\"code\":6240}],"
             "\"type\":\"ValidationFault\"}}]}",
             3, "bIds out of order, a code as string and number");

    if (batch_answer(0, "2")) {
        is_fault("ValidationFault", 5010, "Stale Object Error", "");
    }

    if (batch_answer(1, "0")) {
        is_int(reply.fault, 0, "  no fault");
        is_item(0, "7", "1", "", "", 1);
    }

    if (batch_answer(2, "1")) {
        is_fault("ValidationFault", 6240, "Duplicate Name Exists Error", "d");
    }

    batch_ok("{\"batchItemResponse\":[{\"bId\":\"0\",\"fault\":"
             "{\"error\":[{\"message\":\"Duplicate Name Exists "
             "Error\",\"detail\":\"The name supplied already "
             "exists. : null\",\"code\":\"6240\"}],"
             "\"type\":\"ValidationFault\"}},{\"bId\":\"1\","
             "\"queryResponse\":{\"Item\":[{\"Id\":\"8\","
             "\"SyncToken\":\"2\",\"Sku\":\"prod_8\"}]}}],"
             "\"attachableResponse\":[],\"time\":1719142418269}",
             2, "the gateway's lowercase casing");

    if (batch_answer(0, "0")) {
        is_fault("ValidationFault", 6240, "Duplicate Name Exists Error",
                 "The name supplied already exists. : null");
    }

    if (batch_answer(1, "1")) {
        is_item(0, "8", "2", "", "prod_8", 1);
    }

    batch_ok("{\"BatchItemResponse\":[{\"bId\":\"q\","
             "\"QueryResponse\":{\"Item\":[{\"Id\":\"3\","
             "\"SyncToken\":\"1\",\"Name\":\"Concrete\"},"
             "{\"Id\":\"4\",\"SyncToken\":\"1\",\"Name\":"
             "\"Design\"}],\"startPosition\":1,\"maxResults\":2}},"
             "{\"bId\":\"e\",\"QueryResponse\":{}}]}",
             2, "queries in a batch");

    if (batch_answer(0, "q")) {
        is_int(reply.nitems, 2, "  two items");
        is_item(0, "3", "1", "Concrete", "", 1);
        is_item(1, "4", "1", "Design", "", 1);
    }

    if (batch_answer(1, "e")) {
        is_int(reply.nitems, 0, "  one that matched nothing");
    }

    batch_ok("{\"BatchItemResponse\":[],\"time\":\"x\"}", 0,
             "an empty batch answer");
    ok(batch.items == NULL, "  items NULL");

    batch_unparsable("{\"BatchItemResponse\":[{\"bId\":\"0\",\"Item\":"
                     "{\"Id\":\"1\",\"SyncToken\":\"0\"}},{\"Item\":"
                     "{\"Id\":\"2\",\"SyncToken\":\"0\"}}]}");
    batch_unparsable("{\"BatchItemResponse\":[{\"bId\":0,\"Item\":"
                     "{\"Id\":\"1\",\"SyncToken\":\"0\"}}]}");
    batch_unparsable("{\"BatchItemResponse\":[{\"bId\":null,\"Fault\":{}}]}");
    batch_unparsable("{\"BatchItemResponse\":[{\"bId\":\"0\"}]}");
    batch_unparsable("{\"BatchItemResponse\":[{\"bId\":\"0\",\"Item\":"
                     "{\"SyncToken\":\"0\"}}]}");
    batch_unparsable("{\"BatchItemResponse\":[\"0\"]}");
    batch_unparsable("{\"BatchItemResponse\":[null]}");
    batch_unparsable("{\"BatchItemResponse\":{\"bId\":\"0\",\"Fault\":{}}}");
    batch_unparsable("{\"BatchItemResponse\":null}");
    batch_unparsable("{\"Item\":{\"Id\":\"1\",\"SyncToken\":\"0\"}}");
    batch_unparsable("{\"QueryResponse\":{}}");
    batch_unparsable(JSON_FAULT("{\"code\":\"3200\"}"));
    batch_unparsable(XML_FAULT(" type=\"SERVICE\"", "<Error code=\"3001\"/>"));
    batch_unparsable("[{\"bId\":\"0\",\"Fault\":{}}]");
    batch_unparsable("{\"BatchItemResponse\":[]} x");
    batch_unparsable("{\"BatchItemResponse\":[{\"bId\":\"0\",\"Fault\":{}}]");
    batch_unparsable("");

    /* a whole batch refused, with or without an empty list beside it */
    batch_unparsable("{\"fault\":{\"error\":[{\"code\":\"6240\"}],"
                     "\"type\":\"ValidationFault\"},"
                     "\"batchItemResponse\":[],\"time\":1719142418269}");
    batch_unparsable("{\"Fault\":{\"Error\":[{\"code\":\"3200\"}]},"
                     "\"BatchItemResponse\":[{\"bId\":\"0\",\"Item\":"
                     "{\"Id\":\"1\",\"SyncToken\":\"0\"}}]}");
    ok(batch.nitems == 0 && batch.items == NULL, "  left empty");

    batch_ok("\xef\xbb\xbf{\"BatchItemResponse\":[{\"bId\":\"0\",\"Item\":"
             "{\"Id\":\"1\",\"SyncToken\":\"0\"}}]}", 1,
             "a batch answer after a byte order mark");
    batch_unparsable("Internal Server Error");

    is_int(parse_fixture_with(parse_batch_len, "quickbooks/batch_request.json"),
           QBSYNC_QBO_UNPARSABLE, "the batch request is no answer");
    is_int(parse_fixture_with(parse_batch_len,
                              "quickbooks/item_create_response_inventory.json"),
           QBSYNC_QBO_UNPARSABLE, "nor an item's answer");
}


/* every prefix of a fixture short of its last character is refused */
static void
test_truncated(void)
{
    size_t          i, j, len, bad;
    unsigned char  *body, *copy;

    static const fixture_parse_t  fixtures[] = {
        { "quickbooks/item_create_response_inventory.json", parse_len },
        { "quickbooks/item_query_response_services.json", parse_len },
        { "quickbooks/fault_duplicate_name_6240.json", parse_len },
        { "quickbooks/fault_duplicate_name_6240_lowercase_variant.json",
          parse_len },
        { "quickbooks/fault_401_authentication_failed_3200.json", parse_len },
        { "quickbooks/fault_401_general_authentication_100.xml", parse_len },
        { "quickbooks/fault_429_throttle_exceeded_3001.xml", parse_len },
        { "quickbooks/batch_response_with_faults.json", parse_batch_len }
    };

    for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        body = fixture_read(fixtures[i].name, &len);
        bad = 0;

        for (j = 0; j + 1 < len; j++) {
            /* each prefix in its own allocation, for valgrind */
            copy = malloc(j ? j : 1);
            if (copy == NULL) {
                printf("Bail out! out of memory\n");
                exit(1);
            }

            memcpy(copy, body, j);
            bad += (fixtures[i].parse(copy, j) != QBSYNC_QBO_UNPARSABLE);
            free(copy);
        }

        is_int(bad, 0, tap_name("every truncation: ", fixtures[i].name));
        is_int(fixtures[i].parse(body, len), QBSYNC_QBO_OK,
               "  the whole is OK");

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

    static const fixture_parse_t  fixtures[] = {
        { "quickbooks/item_query_response_services.json", parse_len },
        { "quickbooks/fault_duplicate_name_6240.json", parse_len },
        { "quickbooks/fault_429_throttle_exceeded_3001.xml", parse_len },
        { "quickbooks/batch_response_with_faults.json", parse_batch_len }
    };

    for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        body = fixture_read(fixtures[i].name, &len);

        fixtures[i].parse(body, len);
        total = arena.count;
        bad = 0;

        for (n = 0; n < total; n++) {
            memset(&reply, 0, sizeof(reply));
            arena.fail_after = n;

            rc = fixtures[i].parse(body, len);

            bad += (rc != QBSYNC_QBO_NOMEM || reply.fault || reply.nitems);
        }

        arena.fail_after = (size_t) -1;

        ok(total >= 3, tap_name("allocations counted: ", fixtures[i].name));
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
    test_batch();
    test_truncated();
    test_nomem();

    arena_reset(&arena);

    return done();
}
