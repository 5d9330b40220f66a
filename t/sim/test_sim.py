"""Tests of the QuickBooks simulator, against a real server on loopback.

    python3 -m unittest discover -s t/sim -p 'test_*.py'
    python3 t/sim/test_sim.py [-v]

One simulator process serves the whole module (started the way tests and
the Perl helper start it: --port 0, "PORT n" on stdout); each test resets
it first. Tests that need their own process (state file, start-up) start
one.
"""

import base64
import collections
import concurrent.futures
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ElementTree

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
SIM = os.path.join(HERE, "qbo_sim.py")

REALM = "9341453201"
TOKEN = "at-test-access"
CLIENT = ("qbsync-client", "qbsync-client-secret")
STRIPE_KEY = "sk_test_qbsync"

SERVER = None


def start_sim(*extra):
    """Start a simulator; return (process, port, seconds to the port)."""
    began = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, SIM, "--port", "0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = process.stdout.readline().decode()
    elapsed = time.monotonic() - began
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError("simulator did not start: %r %s"
                           % (line, process.stderr.read().decode()))
    return process, int(line.split()[1]), elapsed


def stop_sim(process):
    process.terminate()
    process.wait(10)
    process.stdout.close()
    process.stderr.close()


def setUpModule():
    global SERVER
    SERVER = start_sim()


def tearDownModule():
    stop_sim(SERVER[0])


class Answer:
    """An HTTP answer: status, headers, raw body and its JSON."""

    def __init__(self, response):
        self.status = response.status
        self.headers = response.headers
        self.raw = response.read()

    @property
    def json(self):
        return json.loads(self.raw)

    @property
    def text(self):
        return self.raw.decode()


class SimTestCase(unittest.TestCase):

    port = None

    def setUp(self):
        self.port = self.port or SERVER[1]
        self.control("/_sim/reset", {"access_token": TOKEN})

    # --- requests ----------------------------------------------------------

    def request(self, method, target, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                timeout=30)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            connection.request(method, target, body=body,
                               headers=headers or {})
            return Answer(connection.getresponse())
        finally:
            connection.close()

    def control(self, path, options=None, method="POST"):
        answer = self.request(method, path, options)
        self.assertEqual(answer.status, 200, answer.text)
        return answer.json

    def qbo(self, method, resource, body=None, token=TOKEN, params=None,
            realm=REALM, raw_body=None, content_type="application/json"):
        query = {"minorversion": "75"}
        query.update(params or {})
        target = "/v3/company/%s/%s?%s" % (
            realm, resource, urllib.parse.urlencode(
                {k: v for k, v in query.items() if v is not None}))
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        if body is not None:
            raw_body = json.dumps(body)
        if raw_body is not None:
            headers["Content-Type"] = content_type
        return self.request(method, target, raw_body, headers)

    def query(self, statement, **params):
        return self.qbo("GET", "query", params=dict(params, query=statement))

    def create(self, params=None, **fields):
        """Create a Service item; fields override the required ones."""
        item = {"Type": "Service", "IncomeAccountRef": {"value": "1"},
                "ExpenseAccountRef": {"value": "80"}}
        item.update(fields)
        return self.qbo("POST", "item", item, params=params)

    def seed(self, *items):
        return self.control("/_sim/items", {"items": list(items)})["items"]

    def state(self):
        return self.control("/_sim/state", method="GET")

    def refresh(self, refresh_token, client=CLIENT, grant="refresh_token",
                content_type="application/x-www-form-urlencoded"):
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if client is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % client).encode()).decode()
        body = urllib.parse.urlencode({"grant_type": grant,
                                       "refresh_token": refresh_token})
        return self.request("POST", "/oauth2/v1/tokens/bearer", body, headers)

    # --- checks ------------------------------------------------------------

    def assertFault(self, answer, status, code, fault_type="ValidationFault"):
        self.assertEqual(answer.status, status, answer.text)
        fault = answer.json["Fault"]
        self.assertEqual(fault["type"], fault_type)
        self.assertEqual(fault["Error"][0]["code"], code, answer.text)
        self.assertIn("time", answer.json)
        return fault["Error"][0]


class OAuthTest(SimTestCase):

    def test_refresh_answers_intuit_shape(self):
        answer = self.refresh("rt-initial")
        self.assertEqual(answer.status, 200, answer.text)
        body = answer.json
        self.assertEqual(list(body), ["token_type", "expires_in",
                                      "refresh_token",
                                      "x_refresh_token_expires_in",
                                      "access_token"])
        self.assertEqual(body["token_type"], "bearer")
        self.assertEqual(body["expires_in"], 3600)
        self.assertEqual(body["x_refresh_token_expires_in"], 8726400)
        self.assertNotEqual(body["refresh_token"], "rt-initial")
        self.assertEqual(self.qbo("GET", "query", token=body["access_token"],
                                  params={"query": "select * from Item"})
                         .status, 200)
        self.assertEqual(self.state()["counts"]["refresh"], 1)

    def test_rotation_kills_the_old_refresh_token(self):
        first = self.refresh("rt-initial").json
        again = self.refresh("rt-initial")
        self.assertEqual(again.status, 400)
        self.assertEqual(again.json, {
            "error": "invalid_grant",
            "error_description": "Incorrect or invalid refresh token"})
        second = self.refresh(first["refresh_token"])
        self.assertEqual(second.status, 200)
        counts = self.state()["counts"]
        self.assertEqual((counts["refresh"], counts["refresh_failed"]),
                         (2, 1))

    def test_without_rotation_the_refresh_token_stays(self):
        self.control("/_sim/reset", {"rotate_refresh_tokens": False,
                                     "access_token_lifetime": 120})
        body = self.refresh("rt-initial").json
        self.assertEqual(body["refresh_token"], "rt-initial")
        self.assertEqual(body["expires_in"], 120)
        self.assertEqual(self.refresh("rt-initial").status, 200)

    def test_client_authentication(self):
        for client in (None, ("qbsync-client", "wrong"), ("other", "x")):
            answer = self.refresh("rt-initial", client=client)
            self.assertEqual(answer.status, 401)
            self.assertEqual(answer.json, {"error": "invalid_client"})

    def test_grant_type_and_media_type(self):
        answer = self.refresh("rt-initial", grant="authorization_code")
        self.assertEqual((answer.status, answer.json["error"]),
                         (400, "unsupported_grant_type"))
        answer = self.refresh("rt-initial", content_type="application/json")
        self.assertEqual((answer.status, answer.json["error"]),
                         (400, "invalid_request"))

    def test_revoked_and_set_refresh_tokens(self):
        self.control("/_sim/tokens", {"revoke_refresh_token": True})
        self.assertEqual(self.refresh("rt-initial").json["error"],
                         "invalid_grant")
        self.control("/_sim/tokens", {"refresh_token": "rt-from-file"})
        self.assertEqual(self.refresh("rt-from-file").status, 200)

    def test_concurrent_refreshes_rotate_once(self):
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: self.refresh("rt-initial")
                                     .status, range(8)))
        self.assertEqual(sorted(statuses), [200] + [400] * 7)


class GatewayTest(SimTestCase):

    def query_with(self, token):
        return self.qbo("GET", "query", token=token,
                        params={"query": "select * from Item"})

    def test_missing_unknown_and_expired_bearer_get_json_401(self):
        self.control("/_sim/tokens", {"access_token": "at-old",
                                      "expires_in": 0})
        for token in (None, "at-unknown", "at-old"):
            answer = self.query_with(token)
            self.assertEqual(answer.status, 401)
            body = answer.json
            error = body["fault"]["error"][0]
            self.assertEqual(body["fault"]["type"], "AUTHENTICATION")
            self.assertEqual(error["code"], "3200")
            self.assertIn("AuthenticationFailed", error["message"])
            self.assertIsInstance(body["time"], int)
        self.assertEqual(self.state()["counts"]["unauthorized"], 3)

    def test_expire_access_tokens(self):
        self.assertEqual(self.query_with(TOKEN).status, 200)
        self.control("/_sim/tokens", {"expire_access_tokens": True})
        self.assertEqual(self.query_with(TOKEN).status, 401)
        self.assertFalse(self.state()["config"]["has_valid_access_token"])

    def test_xml_401_on_request(self):
        self.control("/_sim/reset", {"auth_fault_format": "xml"})
        answer = self.query_with("nope")
        self.assertEqual(answer.status, 401)
        self.assertTrue(answer.headers["Content-Type"].startswith(
            "application/xml"))
        self.assertIn('<Fault type="AuthenticationFault">', answer.text)
        self.assertIn('<Error code="100">', answer.text)
        self.assertIn("General Authentication Error", answer.text)

    def test_unknown_realm_is_403(self):
        answer = self.qbo("GET", "query", realm="123",
                          params={"query": "select * from Item"})
        self.assertFault(answer, 403, "3100", "AuthorizationFault")

    def test_minorversion_is_required(self):
        answer = self.qbo("GET", "query", params={
            "minorversion": None, "query": "select * from Item"})
        error = self.assertFault(answer, 400, "2020")
        self.assertEqual(error["element"], "minorversion")
        answer = self.qbo("GET", "query", params={
            "minorversion": "x", "query": "select * from Item"})
        self.assertFault(answer, 400, "2010")
        self.control("/_sim/config", {"minorversion_required": False})
        answer = self.qbo("GET", "query", params={
            "minorversion": None, "query": "select * from Item"})
        self.assertEqual(answer.status, 200)

    def test_every_answer_has_an_intuit_tid(self):
        answers = [self.query("select * from Item"),
                   self.query_with("bad"), self.refresh("bad"),
                   self.request("GET", "/nowhere"),
                   self.request("GET", "/_sim/health")]
        tids = {answer.headers["intuit_tid"] for answer in answers}
        self.assertEqual(len(tids), len(answers))
        self.assertEqual(answers[3].status, 404)
        self.assertEqual(answers[3].json["error"], "not_found")


class QueryTest(SimTestCase):

    def setUp(self):
        super().setUp()
        self.seed({"Name": "T-shirt", "UnitPrice": 20},
                  {"Name": "Adam's mug", "Sku": "prod_MUG"},
                  {"Name": "Old hat", "Active": False, "Sku": "prod_HAT"},
                  {"Name": "back\\slash"},
                  {"Name": "Sticker", "Sku": "prod_QXg1hqf4jFNsqG"})

    def names(self, statement, **params):
        answer = self.query(statement, **params)
        self.assertEqual(answer.status, 200, answer.text)
        return [item["Name"] for item in
                answer.json["QueryResponse"].get("Item", [])]

    def test_answer_shape(self):
        body = self.query("select * from Item where Name = 'T-shirt'").json
        self.assertEqual(set(body), {"QueryResponse", "time"})
        response = body["QueryResponse"]
        self.assertEqual((response["startPosition"], response["maxResults"]),
                         (1, 1))
        item = response["Item"][0]
        for field in ("Id", "SyncToken", "Name", "Type", "Active",
                      "FullyQualifiedName", "IncomeAccountRef", "MetaData"):
            self.assertIn(field, item)
        self.assertNotIn("Sku", item)           # null members are left out

    def test_nothing_found_is_an_empty_query_response(self):
        body = self.query("select * from Item where Name = 'none'").json
        self.assertEqual(body["QueryResponse"], {})

    def test_case_insensitive_keywords_names_and_values(self):
        self.assertEqual(self.names("SELECT * FROM ITEM WHERE NAME = "
                                    "'t-SHIRT'"), ["T-shirt"])
        self.assertEqual(self.names("select * from item where sku = "
                                    "'PROD_mug'"), ["Adam's mug"])

    def test_escapes(self):
        self.assertEqual(self.names(r"select * from Item where Name = "
                                    r"'Adam\'s mug'"), ["Adam's mug"])
        self.assertEqual(self.names(r"select * from Item where Name = "
                                    r"'back\\slash'"), ["back\\slash"])

    def test_inactive_items_only_when_asked(self):
        where = "select * from Item where Name = 'Old hat'"
        self.assertEqual(self.names(where), [])
        self.assertEqual(self.names(where + " and Active = false"),
                         ["Old hat"])
        self.assertEqual(self.names(where + " AND Active IN (true, false)"),
                         ["Old hat"])
        self.assertEqual(self.names("select * from Item where Active in "
                                    "(false)"), ["Old hat"])
        self.assertEqual(len(self.names("select * from Item")), 4)
        self.assertEqual(len(self.names("select * from Item where Active "
                                        "in (true,false)")), 5)

    def test_sku_id_and_several_conditions(self):
        item_id = self.seed({"Name": "Cap", "Sku": "prod_CAP"})[0]["Id"]
        self.assertEqual(self.names("select * from Item where Id = '%s'"
                                    % item_id), ["Cap"])
        self.assertEqual(self.names("select * from Item where Sku = "
                                    "'prod_HAT' and Active in (true, false)"
                                    " and Name = 'old HAT'"), ["Old hat"])
        self.assertEqual(self.names("select * from Item where Sku = "
                                    "'prod_CAP' and Name = 'T-shirt'"), [])

    def test_paging_orderby_and_count(self):
        statement = "select * from Item where Active in (true, false)"
        self.assertEqual(self.names(statement + " startposition 2 "
                                    "maxresults 2"), ["Adam's mug",
                                                      "Old hat"])
        body = self.query(statement + " STARTPOSITION 5 MAXRESULTS 10").json
        self.assertEqual(body["QueryResponse"]["startPosition"], 5)
        self.assertEqual(body["QueryResponse"]["maxResults"], 1)
        self.assertEqual(self.names(statement + " startposition 9"), [])
        self.assertEqual(self.names("select * from Item orderby Name desc "
                                    "maxresults 1"), ["T-shirt"])
        body = self.query("select count(*) from Item").json
        self.assertEqual(body["QueryResponse"], {"totalCount": 4})

    def test_default_page_is_100(self):
        self.seed(*({"Name": "bulk %d" % n} for n in range(120)))
        self.assertEqual(len(self.names("select * from Item")), 100)
        self.assertEqual(len(self.names("select * from Item maxresults "
                                        "1000")), 124)

    def test_maxresults_over_1000(self):
        error = self.assertFault(self.query("select * from Item "
                                            "maxresults 1001"), 400, "4001")
        self.assertIn("QueryValidationError: value 1001 is too large. Max "
                      "allowed value is 1000", error["Detail"])

    def test_parser_errors(self):
        for statement in ("select * from Item where Name = 'open",
                          "select * from Item where Name 'x'",
                          "select Name from Item",
                          "select * from Item where Name = 'a' or Sku = 'b'",
                          "delete from Item", ""):
            error = self.assertFault(self.query(statement), 400, "4000")
            self.assertTrue(error["Detail"].startswith("QueryParserError"))

    def test_like_and_comparisons(self):
        self.assertEqual(self.names("select * from Item where Name like "
                                    "'%SHIRT'"), ["T-shirt"])
        self.assertEqual(self.names("select * from Item where Name like "
                                    "'s%' and UnitPrice < '1'"), ["Sticker"])

    def test_indexes_follow_seeds_and_updates(self):
        self.seed({"Name": "Late", "Id": "90", "Sku": "prod_SHARED"},
                  {"Name": "Early", "Id": "30", "Sku": "PROD_shared"})
        statement = "select * from Item where Sku = 'prod_shared'"
        self.assertEqual(self.names(statement), ["Early", "Late"])
        self.qbo("POST", "item", {"Id": "30", "SyncToken": "0",
                                  "sparse": True, "Sku": "prod_own"})
        self.assertEqual(self.names(statement), ["Late"])
        self.assertEqual(self.names("select * from Item where Id = '030'"),
                         ["Early"])
        ids = [item["Id"] for item in self.state()["items"]]
        self.assertEqual(ids, sorted(ids, key=int))
        self.assertEqual(self.create(Name="Next").json["Item"]["Id"], "91")

    def test_validation_errors(self):
        for statement in ("select * from Customer",
                          "select * from Item where Colour = 'red'",
                          "select * from Item where Active = maybe"):
            self.assertFault(self.query(statement), 400, "4001")

    def test_query_by_post(self):
        answer = self.request(
            "POST", "/v3/company/%s/query?minorversion=75" % REALM,
            "select * from Item where Name = 'Sticker'",
            {"Authorization": "Bearer " + TOKEN,
             "Content-Type": "application/text"})
        self.assertEqual(answer.json["QueryResponse"]["Item"][0]["Name"],
                         "Sticker")


class ItemTest(SimTestCase):

    def test_create_and_read(self):
        answer = self.create(Name="T-shirt", Sku="prod_1",
                             Description="Gray", UnitPrice=19.99)
        self.assertEqual(answer.status, 200, answer.text)
        item = answer.json["Item"]
        self.assertEqual(item["Id"], "1")
        self.assertEqual(item["SyncToken"], "0")
        self.assertEqual(item["FullyQualifiedName"], "T-shirt")
        self.assertEqual((item["domain"], item["sparse"], item["Active"]),
                         ("QBO", False, True))
        self.assertIn("LastUpdatedTime", item["MetaData"])
        self.assertIn("time", answer.json)
        read = self.qbo("GET", "item/1")
        self.assertEqual(read.status, 200)
        self.assertEqual(read.json["Item"], item)
        counts = self.state()["counts"]
        self.assertEqual((counts["create"], counts["read"]), (1, 1))

    def test_read_unknown_is_610(self):
        self.assertFault(self.qbo("GET", "item/99"), 400, "610")

    def test_sparse_update_changes_only_what_it_names(self):
        item = self.create(Name="T-shirt", Sku="prod_1",
                           Description="Gray").json["Item"]
        time.sleep(1.01)
        answer = self.qbo("POST", "item", {
            "Id": item["Id"], "SyncToken": "0", "sparse": True,
            "Name": "T-shirt", "UnitPrice": 25})
        updated = answer.json["Item"]
        self.assertEqual(updated["SyncToken"], "1")
        self.assertEqual(updated["UnitPrice"], 25)
        self.assertEqual((updated["Sku"], updated["Description"]),
                         ("prod_1", "Gray"))
        self.assertEqual(updated["MetaData"]["CreateTime"],
                         item["MetaData"]["CreateTime"])
        self.assertNotEqual(updated["MetaData"]["LastUpdatedTime"],
                            item["MetaData"]["LastUpdatedTime"])

    def test_full_update_drops_what_it_omits(self):
        item = self.create(Name="T-shirt", Sku="prod_1", Description="Gray",
                           UnitPrice=5).json["Item"]
        answer = self.qbo("POST", "item", {
            "Id": item["Id"], "SyncToken": "0", "Name": "T-shirt",
            "Type": "Service", "IncomeAccountRef": {"value": "1"},
            "ExpenseAccountRef": {"value": "80"}})
        updated = answer.json["Item"]
        self.assertEqual(answer.status, 200, answer.text)
        self.assertNotIn("Sku", updated)
        self.assertNotIn("Description", updated)
        self.assertEqual(updated["UnitPrice"], 0)
        self.assertTrue(updated["Active"])
        stored = self.state()["items"][0]
        self.assertIsNone(stored["Sku"])

    def test_full_update_still_needs_the_required_fields(self):
        item = self.create(Name="T-shirt").json["Item"]
        answer = self.qbo("POST", "item", {"Id": item["Id"],
                                           "SyncToken": "0",
                                           "Name": "T-shirt"})
        self.assertFault(answer, 400, "2020")

    def test_stale_sync_token_is_5010(self):
        item = self.create(Name="T-shirt").json["Item"]
        update = {"Id": item["Id"], "SyncToken": "0", "sparse": True,
                  "Name": "T-shirt", "Description": "one"}
        self.assertEqual(self.qbo("POST", "item", update).status, 200)
        error = self.assertFault(self.qbo("POST", "item", update), 400,
                                 "5010")
        self.assertEqual(error["Message"], "Stale Object Error")
        self.assertTrue(error["Detail"].startswith("Stale Object Error : "))

    def test_update_unknown_or_without_sync_token(self):
        self.assertFault(self.qbo("POST", "item", {
            "Id": "42", "SyncToken": "0", "sparse": True, "Name": "x"}),
            400, "610")
        item = self.create(Name="T-shirt").json["Item"]
        error = self.assertFault(self.qbo("POST", "item", {
            "Id": item["Id"], "sparse": True, "Name": "x"}), 400, "2020")
        self.assertEqual(error["element"], "SyncToken")

    def test_inactivate(self):
        item = self.create(Name="T-shirt").json["Item"]
        answer = self.qbo("POST", "item", {"Id": item["Id"], "SyncToken": "0",
                                           "sparse": True, "Active": False})
        self.assertFalse(answer.json["Item"]["Active"])
        self.assertEqual(self.query("select * from Item").json
                         ["QueryResponse"], {})

    def test_delete_is_refused(self):
        self.create(Name="T-shirt")
        answer = self.qbo("POST", "item", {"Id": "1", "SyncToken": "0"},
                          params={"operation": "delete"})
        self.assertFault(answer, 400, "500")

    def test_body_must_be_json_object_with_known_fields(self):
        answer = self.qbo("POST", "item", raw_body="{not json")
        self.assertFault(answer, 400, "2010")
        answer = self.qbo("POST", "item", raw_body='{"Name":"x"}',
                          content_type="application/xml")
        self.assertFault(answer, 415, "415")
        error = self.assertFault(self.create(Name="x", Colour="red"), 400,
                                 "2010")
        self.assertEqual(error["element"], "Colour")


class NameRuleTest(SimTestCase):

    def test_duplicate_name_case_insensitive_and_inactive(self):
        seeded = self.seed({"Name": "T-shirt"},
                           {"Name": "Old hat", "Active": False})
        for name, existing in (("T-shirt", seeded[0]["Id"]),
                               ("t-SHIRT", seeded[0]["Id"]),
                               ("OLD HAT", seeded[1]["Id"])):
            error = self.assertFault(self.create(Name=name), 400, "6240")
            self.assertEqual(error["Message"], "Duplicate Name Exists Error")
            self.assertEqual(error["Detail"], "The name supplied already "
                             "exists. : Id=%s" % existing)

    def test_duplicate_name_on_rename(self):
        self.seed({"Name": "Old hat", "Active": False})
        item = self.create(Name="T-shirt").json["Item"]
        rename = {"Id": item["Id"], "SyncToken": "0", "sparse": True}
        self.assertFault(self.qbo("POST", "item", dict(rename,
                                                       Name="old hat")),
                         400, "6240")
        answer = self.qbo("POST", "item", dict(rename, Name="T-SHIRT"))
        self.assertEqual(answer.status, 200, answer.text)
        self.assertEqual(self.create(Name="t-shirt").status, 400)
        answer = self.qbo("POST", "item", dict(rename, SyncToken="1",
                                               Name="Polo"))
        self.assertEqual(answer.status, 200)
        self.assertEqual(self.create(Name="t-shirt").status, 200)

    def test_length_counts_code_points(self):
        self.assertEqual(self.create(Name="é" * 100).status, 200)
        error = self.assertFault(self.create(Name="€" * 101), 400, "2050")
        self.assertEqual((error["Message"], error["element"]),
                         ("Length exceeds limit", "Name"))

    def test_tabs_new_lines_and_colons_are_refused(self):
        for name in ("a\tb", "a\nb", "a\rb", "Shirts:Gray"):
            error = self.assertFault(self.create(Name=name), 400, "6000")
            self.assertIn("Invalid name", error["Detail"])

    def test_required_fields(self):
        self.assertEqual(self.assertFault(self.create(), 400, "2020")
                         ["element"], "Name")
        self.assertEqual(self.assertFault(self.create(Name=" "), 400, "2020")
                         ["element"], "Name")
        self.assertEqual(self.assertFault(self.create(Name="a", Type=None),
                                          400, "2020")["element"], "Type")
        self.assertFault(self.create(Name="a", Type="Group"), 400, "2010")
        error = self.assertFault(self.create(Name="a",
                                             IncomeAccountRef=None),
                                 400, "2020")
        self.assertEqual(error["element"], "IncomeAccountRef")
        error = self.assertFault(self.create(Name="a", Type="NonInventory",
                                             ExpenseAccountRef={}),
                                 400, "2020")
        self.assertEqual(error["element"], "ExpenseAccountRef")
        answer = self.create(Name="a", Type="NonInventory",
                             IncomeAccountRef=None)
        self.assertEqual(answer.status, 200, answer.text)

    def test_field_limits_and_types(self):
        self.assertEqual(self.assertFault(self.create(Name="a", Sku="s" * 101),
                                          400, "2050")["element"], "Sku")
        self.assertEqual(self.create(Name="b", Sku="s" * 100).status, 200)
        self.assertEqual(self.assertFault(
            self.create(Name="c", Description="d" * 4001), 400, "2050")
            ["element"], "Description")
        self.assertEqual(self.create(Name="d", Description="d" * 4000)
                         .status, 200)
        for price in ("19.99", True):
            self.assertEqual(self.assertFault(self.create(Name="e",
                                                          UnitPrice=price),
                                              400, "2010")["element"],
                             "UnitPrice")


class DecimalTest(SimTestCase):

    def test_unit_price_text_survives_every_path(self):
        for index, text in enumerate(("19.99", "1.5", "1000", "0.125",
                                      "19.990", "99999999999.99")):
            body = ('{"Name":"p%d","Type":"Service","UnitPrice":%s,'
                    '"IncomeAccountRef":{"value":"1"},'
                    '"ExpenseAccountRef":{"value":"80"}}' % (index, text))
            created = self.qbo("POST", "item", raw_body=body)
            self.assertIn('"UnitPrice":%s,' % text, created.text)
            read = self.qbo("GET", "item/%d" % (index + 1))
            self.assertIn('"UnitPrice":%s,' % text, read.text)
            found = self.query("select * from Item where Name = 'p%d'"
                               % index)
            self.assertIn('"UnitPrice":%s,' % text, found.text)
        state = self.request("GET", "/_sim/state").text
        self.assertIn('"UnitPrice":0.125,', state)
        self.assertIn('"UnitPrice":19.990,', state)

    def test_sparse_update_keeps_exact_text(self):
        self.create(Name="p")
        answer = self.qbo("POST", "item", raw_body=(
            '{"Id":"1","SyncToken":"0","sparse":true,"UnitPrice":0.1}'))
        self.assertIn('"UnitPrice":0.1,', answer.text)


class RequestIdTest(SimTestCase):

    def test_replay_answers_the_first_answer_without_acting(self):
        first = self.create({"requestid": "evt_1-create"}, Name="T-shirt")
        time.sleep(0.01)
        again = self.qbo("POST", "item", {"Name": "Something else"},
                         params={"requestid": "evt_1-create"})
        self.assertEqual((again.status, again.raw), (first.status, first.raw))
        state = self.state()
        self.assertEqual(len(state["items"]), 1)
        self.assertEqual(state["counts"]["replayed"], 1)
        self.assertEqual(state["counts"]["create"], 1)
        self.assertTrue(state["requests"][-1]["replayed"])
        self.assertEqual(state["requests"][-1]["requestid"], "evt_1-create")

    def test_faults_are_replayed_too(self):
        self.seed({"Name": "T-shirt"})
        first = self.create({"requestid": "r-3"}, Name="T-shirt")
        self.assertEqual(first.status, 400)
        self.qbo("POST", "item", {"Id": "1", "SyncToken": "0",
                                  "sparse": True, "Name": "Polo"})
        again = self.create({"requestid": "r-3"}, Name="T-shirt")
        self.assertEqual((again.status, again.raw), (400, first.raw))
        self.assertEqual(self.state()["counts"]["replayed"], 1)

    def test_gateway_refusals_are_not_remembered(self):
        params = {"requestid": "r-auth"}
        self.assertEqual(self.qbo("POST", "item", {"Name": "x"},
                                  token="bad", params=params).status, 401)
        self.assertEqual(self.create(params, Name="T-shirt").status, 200)

    def test_requestid_length(self):
        self.assertFault(self.create({"requestid": "r" * 51}, Name="x"),
                         400, "2050")
        self.assertEqual(self.create({"requestid": "r" * 50}, Name="x")
                         .status, 200)
        batch = {"BatchItemRequest": [{"bId": "1", "Query":
                                       "select * from Item"}]}
        self.assertFault(self.qbo("POST", "batch", batch,
                                  params={"requestid": "r" * 37}),
                         400, "2050")
        self.assertEqual(self.qbo("POST", "batch", batch,
                                  params={"requestid": "r" * 36}).status, 200)


class BatchTest(SimTestCase):

    def test_mixed_batch_with_per_item_faults(self):
        self.seed({"Name": "Existing"})
        answer = self.qbo("POST", "batch", {"BatchItemRequest": [
            {"bId": "c1", "operation": "create", "Item": {
                "Name": "New", "Type": "Service",
                "IncomeAccountRef": {"value": "1"},
                "ExpenseAccountRef": {"value": "80"}}},
            {"bId": "c2", "operation": "create", "Item": {
                "Name": "existing", "Type": "Service",
                "IncomeAccountRef": {"value": "1"},
                "ExpenseAccountRef": {"value": "80"}}},
            {"bId": "u1", "operation": "update", "Item": {
                "Id": "1", "SyncToken": "5", "sparse": True, "Name": "E"}},
            {"bId": "u2", "operation": "update", "Item": {
                "Id": "1", "SyncToken": "0", "sparse": True,
                "UnitPrice": 3}},
            {"bId": "d1", "operation": "delete", "Item": {"Id": "1"}},
            {"bId": "q1", "Query": "select * from Item where Name = 'new'"},
            {"bId": "q2", "Query": "select * from Item where"},
            {"bId": "v1", "operation": "create", "Vendor": {}},
        ]})
        self.assertEqual(answer.status, 200, answer.text)
        body = answer.json
        self.assertIn("time", body)
        by_bid = {entry["bId"]: entry for entry in body["BatchItemResponse"]}
        self.assertEqual(list(by_bid), ["c1", "c2", "u1", "u2", "d1", "q1",
                                        "q2", "v1"])
        self.assertEqual(by_bid["c1"]["Item"]["Name"], "New")
        codes = {bid: entry["Fault"]["Error"][0]["code"]
                 for bid, entry in by_bid.items() if "Fault" in entry}
        self.assertEqual(codes, {"c2": "6240", "u1": "5010", "d1": "500",
                                 "q2": "4000", "v1": "500"})
        self.assertNotIn("time", by_bid["c2"]["Fault"])
        self.assertEqual(by_bid["u2"]["Item"]["SyncToken"], "1")
        self.assertEqual(by_bid["q1"]["QueryResponse"]["Item"][0]["Name"],
                         "New")
        counts = self.state()["counts"]
        self.assertEqual((counts["batch"], counts["create"], counts["update"],
                          counts["query"]), (1, 2, 2, 2))

    def test_more_than_30_is_refused(self):
        entries = [{"bId": str(n), "Query": "select * from Item"}
                   for n in range(31)]
        self.assertFault(self.qbo("POST", "batch",
                                  {"BatchItemRequest": entries}), 400,
                         "6000")
        answer = self.qbo("POST", "batch",
                          {"BatchItemRequest": entries[:30]})
        self.assertEqual(len(answer.json["BatchItemResponse"]), 30)

    def test_bids_are_required_unique_and_short_with_a_requestid(self):
        query = "select * from Item"
        self.assertFault(self.qbo("POST", "batch", {"BatchItemRequest": [
            {"Query": query}]}), 400, "2020")
        self.assertFault(self.qbo("POST", "batch", {"BatchItemRequest": [
            {"bId": "a", "Query": query}, {"bId": "a", "Query": query}]}),
            400, "2010")
        self.assertFault(self.qbo("POST", "batch", {"BatchItemRequest": [
            {"bId": "b" * 11, "Query": query}]},
            params={"requestid": "r"}), 400, "2050")

    def test_batch_replay(self):
        batch = {"BatchItemRequest": [{"bId": "c1", "operation": "create",
                                       "Item": {
                                           "Name": "New", "Type": "Service",
                                           "IncomeAccountRef": {"value": "1"},
                                           "ExpenseAccountRef":
                                           {"value": "80"}}}]}
        first = self.qbo("POST", "batch", batch, params={"requestid": "b-1"})
        again = self.qbo("POST", "batch", batch, params={"requestid": "b-1"})
        self.assertEqual(first.raw, again.raw)
        self.assertEqual(len(self.state()["items"]), 1)


class FaultInjectionTest(SimTestCase):

    def faults(self, *rules):
        return self.control("/_sim/faults", {"rules": list(rules)})

    def test_status_faults_have_quickbooks_bodies(self):
        self.faults({"path": "/v3/company/", "status": 500},
                    {"path": "/v3/company/", "status": 503},
                    {"path": "/v3/company/", "status": 429},
                    {"path": "/v3/company/", "status": 401})
        error = self.assertFault(self.query("select * from Item"), 500,
                                 "10000", "SystemFault")
        self.assertEqual(error["Message"], "An application error has "
                         "occurred while processing your request")
        self.assertTrue(error["Detail"].startswith("System Failure Error"))
        self.assertFault(self.query("select * from Item"), 503, "3003",
                         "SERVICE")
        throttled = self.query("select * from Item")
        self.assertEqual(throttled.status, 429)
        self.assertIn('<Error code="3001">', throttled.text)
        self.assertIn("ThrottleExceeded", throttled.text)
        unauthorized = self.query("select * from Item")
        self.assertEqual(unauthorized.status, 401)
        self.assertEqual(unauthorized.json["fault"]["error"][0]["code"],
                         "3200")
        self.assertEqual(self.query("select * from Item").status, 200)
        state = self.state()
        self.assertEqual(state["counts"]["faults_injected"], 4)
        self.assertEqual(state["counts"]["query"], 1)
        self.assertEqual([entry["status"] for entry in state["requests"]],
                         [500, 503, 429, 401, 200])

    def test_method_path_match_count_and_skip(self):
        self.faults({"method": "POST", "path": "/v3/company/",
                     "match": "requestid=evt_2", "count": 2, "skip": 1,
                     "status": 503})
        self.assertEqual(self.query("select * from Item",
                                    requestid="evt_2").status, 200)
        statuses = [self.create({"requestid": "evt_2-%d" % n},
                                Name="n%d" % n).status for n in range(4)]
        self.assertEqual(statuses, [200, 503, 503, 200])
        self.assertEqual(self.create(Name="other").status, 200)

    def test_rules_apply_in_order(self):
        self.faults({"path": "/v3/", "status": 500},
                    {"path": "/v3/", "status": 429})
        self.assertEqual(self.query("select * from Item").status, 500)
        self.assertEqual(self.query("select * from Item").status, 429)
        self.assertEqual(self.query("select * from Item").status, 200)

    def test_injected_401_follows_the_auth_fault_format(self):
        self.control("/_sim/config", {"auth_fault_format": "xml"})
        self.faults({"path": "/v3/", "status": 401})
        answer = self.query("select * from Item")
        self.assertEqual(answer.status, 401)
        self.assertIn('<Error code="100">', answer.text)

    def test_delay(self):
        self.faults({"path": "/v3/", "kind": "delay", "delay_ms": 300})
        began = time.monotonic()
        self.assertEqual(self.query("select * from Item").status, 200)
        self.assertGreaterEqual(time.monotonic() - began, 0.3)
        entry = self.state()["requests"][-1]
        self.assertEqual((entry["status"], entry["fault"]), (200, "delay"))

    def test_timeout_holds_then_closes(self):
        self.faults({"path": "/v3/", "kind": "timeout", "delay_ms": 400})
        began = time.monotonic()
        with self.assertRaises((http.client.RemoteDisconnected,
                                ConnectionError)):
            self.query("select * from Item")
        self.assertGreaterEqual(time.monotonic() - began, 0.4)
        self.assertEqual(self.query("select * from Item").status, 200)

    def test_reset_is_a_tcp_rst(self):
        self.faults({"path": "/oauth2/", "kind": "reset"})
        with self.assertRaises(ConnectionResetError):
            self.refresh("rt-initial")
        self.assertEqual(self.refresh("rt-initial").status, 200)

    def test_lost_answer_after_the_write_then_replay(self):
        self.faults({"path": "/v3/", "kind": "timeout", "delay_ms": 100,
                     "process": True})
        with self.assertRaises((http.client.RemoteDisconnected,
                                ConnectionError)):
            self.create({"requestid": "e-1"}, Name="T-shirt")
        again = self.create({"requestid": "e-1"}, Name="T-shirt")
        self.assertEqual(again.status, 200)
        self.assertEqual(again.json["Item"]["Id"], "1")
        self.assertEqual(len(self.state()["items"]), 1)

    def test_other_apis_get_their_own_shapes(self):
        self.faults({"path": "/oauth2/", "status": 500},
                    {"path": "/oauth2/", "status": 400},
                    {"path": "/v1/", "status": 500})
        answer = self.refresh("rt-initial")
        self.assertEqual((answer.status, answer.json["error"]),
                         (500, "server_error"))
        answer = self.refresh("rt-initial")
        self.assertEqual((answer.status, answer.json["error"]),
                         (400, "invalid_grant"))
        answer = self.request("GET", "/v1/products/prod_1")
        self.assertEqual((answer.status, answer.json["error"]["type"]),
                         (500, "api_error"))

    def test_body_override_and_bad_rules(self):
        self.faults({"path": "/v3/", "status": 502, "body": "<html>bad "
                     "gateway</html>", "content_type": "text/html"})
        answer = self.query("select * from Item")
        self.assertEqual((answer.status, answer.text),
                         (502, "<html>bad gateway</html>"))
        self.assertEqual(answer.headers["Content-Type"], "text/html")
        rules = self.state()["fault_rules"]
        self.assertEqual(rules[0]["count"], 0)          # spent, still shown
        bad = self.request("POST", "/_sim/faults",
                           {"rules": [{"kind": "explode"}]})
        self.assertEqual(bad.status, 400)
        self.assertEqual(self.state()["fault_rules"], rules)

    def test_control_api_is_never_faulted(self):
        self.faults({"path": "/", "status": 500, "count": 100})
        self.assertEqual(self.request("GET", "/_sim/health").status, 200)


class StripeTest(SimTestCase):

    def setUp(self):
        super().setUp()
        with open(os.path.join(TOP, "t", "fixtures", "stripe",
                               "product.json")) as fixture:
            self.product = json.load(fixture)
        self.control("/_sim/stripe", {
            "products": [self.product,
                         {"id": "prod_free", "name": "Free"}],
            "prices": [{"id": self.product["default_price"],
                        "product": self.product["id"], "currency": "usd",
                        "unit_amount": 1999}]})

    def fetch(self, product_id, key=STRIPE_KEY, expand=True):
        target = "/v1/products/%s" % product_id
        if expand:
            target += "?expand%5B%5D=default_price"
        headers = {"Authorization": "Bearer " + key} if key else {}
        return self.request("GET", target, headers=headers)

    def test_product_with_expanded_default_price(self):
        answer = self.fetch(self.product["id"])
        self.assertEqual(answer.status, 200, answer.text)
        product = answer.json
        self.assertEqual(product["name"], "T-shirt")
        self.assertEqual(product["object"], "product")
        price = product["default_price"]
        self.assertEqual((price["object"], price["unit_amount"],
                          price["unit_amount_decimal"], price["currency"]),
                         ("price", 1999, "1999", "usd"))
        self.assertEqual(self.fetch("prod_free").json["default_price"], None)
        self.assertEqual(self.state()["counts"]["stripe_product"], 2)

    def test_without_expand_default_price_is_an_id(self):
        answer = self.fetch(self.product["id"], expand=False)
        self.assertEqual(answer.json["default_price"],
                         self.product["default_price"])

    def test_keys(self):
        answer = self.fetch(self.product["id"], key="sk_test_wrong")
        self.assertEqual(answer.status, 401)
        self.assertEqual(answer.json, {"error": {
            "message": "Invalid API Key provided: sk_test_***",
            "type": "invalid_request_error"}})
        self.assertEqual(self.fetch(self.product["id"], key=None).status,
                         401)
        basic = base64.b64encode(b"sk_test_qbsync:").decode()
        answer = self.request("GET", "/v1/products/prod_free",
                              headers={"Authorization": "Basic " + basic})
        self.assertEqual(answer.status, 200)

    def test_unknown_product(self):
        answer = self.fetch("prod_x")
        self.assertEqual(answer.status, 404)
        self.assertEqual(answer.json, {"error": {
            "code": "resource_missing", "message": "No such product: "
            "'prod_x'", "param": "id", "type": "invalid_request_error"}})

    def test_remove_and_reset(self):
        self.control("/_sim/stripe", {"remove": ["prod_free"]})
        self.assertEqual(self.fetch("prod_free").status, 404)
        self.control("/_sim/reset")
        self.assertEqual(self.fetch(self.product["id"]).status, 404)


class ControlTest(SimTestCase):

    def test_state_never_shows_a_token(self):
        first = self.refresh("rt-initial").json
        second = self.refresh(first["refresh_token"]).json
        self.query("select * from Item")
        self.qbo("GET", "query", token=second["access_token"],
                 params={"query": "select * from Item"})
        text = self.request("GET", "/_sim/state").text
        for secret in (TOKEN, first["access_token"], first["refresh_token"],
                       second["access_token"], second["refresh_token"],
                       "rt-initial", CLIENT[1], STRIPE_KEY):
            self.assertNotIn(secret, text)
        config = json.loads(text)["config"]
        self.assertTrue(config["has_valid_access_token"])
        self.assertEqual(config["refresh_token_prefix"],
                         second["refresh_token"][:4])
        kinds = [entry["authorization"] for entry in
                 json.loads(text)["requests"]]
        self.assertEqual(kinds, ["basic", "basic", "bearer", "bearer"])

    def test_request_log_keeps_the_last_200(self):
        for n in range(205):
            self.request("GET", "/nowhere/%d" % n)
        state = self.state()
        self.assertEqual(len(state["requests"]), 200)
        self.assertEqual(state["requests"][0]["path"], "/nowhere/5")
        self.assertEqual(state["counts"]["by_path"]["/nowhere/204"], 1)

    def test_writes_are_logged_with_their_body(self):
        self.create(Name="T-shirt")
        entry = self.state()["requests"][-1]
        self.assertEqual((entry["method"], entry["status"]), ("POST", 200))
        self.assertEqual(entry["body"]["Name"], "T-shirt")
        self.assertTrue(entry["path"].startswith("/v3/company/%s/item?"
                                                 % REALM))

    def test_reset_answers_the_config(self):
        config = self.control("/_sim/reset", {"realm": "123",
                                              "client_id": "c"})
        self.assertEqual((config["realm"], config["client_id"]), ("123", "c"))
        self.assertFalse(config["has_valid_access_token"])
        self.assertEqual(config["refresh_token_prefix"], "rt-i")
        bad = self.request("POST", "/_sim/reset", {"realm": 5})
        self.assertEqual(bad.status, 400)
        bad = self.request("POST", "/_sim/reset", {"colour": "red"})
        self.assertEqual(bad.status, 400)

    def test_seeding_is_all_or_nothing(self):
        answer = self.request("POST", "/_sim/items", {"items": [
            {"Name": "a"}, {"Name": "A"}]})
        self.assertEqual(answer.status, 400)
        self.assertEqual(answer.json["Fault"]["Error"][0]["code"], "6240")
        self.assertEqual(self.state()["items"], [])
        seeded = self.seed({"Name": "a", "Id": "40", "SyncToken": "7"},
                           {"Name": "b"})
        self.assertEqual([(item["Id"], item["SyncToken"]) for item in seeded],
                         [("40", "7"), ("41", "0")])

    def test_json_in_the_query_string(self):
        options = urllib.parse.quote(json.dumps({"items": [{"Name": "q"}]}))
        answer = self.request("GET", "/_sim/items?json=" + options)
        self.assertEqual(answer.status, 200, answer.text)
        self.assertEqual(self.state()["items"][0]["Name"], "q")
        self.assertEqual(self.request("GET", "/_sim/reset").status, 200)
        self.assertEqual(self.state()["items"], [])

    def test_unknown_control_path(self):
        answer = self.request("GET", "/_sim/nothing")
        self.assertEqual(answer.status, 404)
        self.assertIn("error", answer.json)


class ServerTest(SimTestCase):

    def test_keep_alive(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port)
        connection.request("GET", "/_sim/health")
        first = connection.getresponse()
        first.read()
        sock = connection.sock
        connection.request("GET", "/_sim/health")
        second = connection.getresponse()
        self.assertEqual(second.read(), b'{"ok":true}')
        self.assertIs(connection.sock, sock)
        self.assertEqual(first.headers["Content-Length"], "11")
        connection.close()

    def test_pipelined_requests_on_one_connection(self):
        with socket.create_connection(("127.0.0.1", self.port)) as sock:
            sock.sendall(b"GET /_sim/health HTTP/1.1\r\nHost: x\r\n\r\n"
                         b"POST /_sim/items HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 28\r\n\r\n"
                         b'{"items":[{"Name":"piped"}]}'
                         b"GET /_sim/health HTTP/1.0\r\n\r\n")
            received = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        self.assertEqual(received.count(b"HTTP/1.1 200 OK"), 3)
        self.assertEqual(self.state()["items"][0]["Name"], "piped")

    def test_chunked_request_body(self):
        body = json.dumps({"items": [{"Name": "chunked"}]}).encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port)
        connection.request("POST", "/_sim/items", body=iter([body[:5],
                                                            body[5:]]),
                           encode_chunked=True,
                           headers={"Transfer-Encoding": "chunked"})
        self.assertEqual(connection.getresponse().status, 200)
        connection.close()
        self.assertEqual(self.state()["items"][0]["Name"], "chunked")

    def test_concurrent_creates(self):
        def create(n):
            return self.create(Name="item %d" % n).json["Item"]["Id"]

        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            ids = list(pool.map(create, range(100)))
        self.assertEqual(sorted(map(int, ids)), list(range(1, 101)))

    def test_concurrent_duplicate_creates_make_one_item(self):
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda _: self.create(Name="same")
                                     .status, range(16)))
        self.assertEqual(sorted(statuses), [200] + [400] * 15)

    def test_slow_answers_do_not_block_others(self):
        self.control("/_sim/faults", {"rules": [
            {"path": "/v3/", "kind": "timeout", "delay_ms": 2000}]})
        slow = threading.Thread(target=lambda: self.assertRaises(
            Exception, self.query, "select * from Item"))
        slow.start()
        time.sleep(0.1)
        began = time.monotonic()
        self.assertEqual(self.query("select * from Item").status, 200)
        self.assertLess(time.monotonic() - began, 1)
        slow.join()


def sleep_until(moment):
    time.sleep(max(0, moment - time.monotonic()))


def batch_of(size, create=None):
    """A batch of size queries, the first replaced by a create of the
    name given."""
    entries = [{"bId": str(n), "Query": "select * from Item"}
               for n in range(size)]
    if create is not None:
        entries[0] = {"bId": "0", "operation": "create", "Item": {
            "Name": create, "Type": "Service",
            "IncomeAccountRef": {"value": "1"},
            "ExpenseAccountRef": {"value": "80"}}}
    return {"BatchItemRequest": entries}


class ThrottleTest(SimTestCase):
    """QuickBooks' limits. The minute and second windows are real time
    divided by time_scale; where a test depends on how fast this machine
    sends requests it skips, rather than fails, when it was too slow."""

    def throttle(self, **settings):
        return self.control("/_sim/config", {"throttle": settings})

    def burst(self, count):
        """count queries, one after the other: their statuses."""
        return [self.query("select * from Item").status
                for _ in range(count)]

    def meter(self):
        return self.state()["throttle"]

    def test_off_by_default(self):
        self.assertEqual(self.burst(25), [200] * 25)
        throttle = self.meter()
        self.assertFalse(throttle["config"]["enabled"])
        self.assertEqual(throttle["config"], {
            "enabled": False, "per_minute": 500, "per_second": 10,
            "concurrent": 10, "batch_per_minute": 40, "time_scale": 1})
        self.assertEqual((throttle["accepted"], throttle["by_realm"]),
                         (0, {}))

    def test_per_minute_is_a_sliding_window(self):
        # a "minute" lasts 3 s; 10 at 0 s, 10 at 1.5 s, then at just past
        # 3 s the first ten have left the window and the second ten have
        # not: a fixed bucket would take 20 more there, the log 10
        self.throttle(per_minute=20, per_second=1000, time_scale=20)
        began = time.monotonic()
        first = self.burst(10)
        first_done = time.monotonic()
        sleep_until(began + 1.5)
        second = self.burst(11)
        sleep_until(first_done + 3.05)
        third = self.burst(11)
        if time.monotonic() - began > 4.4 or first_done - began > 0.6:
            self.skipTest("the machine was too slow for the time windows")
        self.assertEqual(first, [200] * 10)
        self.assertEqual(second, [200] * 10 + [429])
        # had the 429 at 1.5 s counted, only 9 would fit here
        self.assertEqual(third, [200] * 10 + [429])
        throttle = self.meter()
        self.assertEqual((throttle["accepted"], throttle["throttled"],
                          throttle["max_in_any_minute"]), (30, 2, 20))
        self.assertEqual(throttle["throttled_by"]["per_minute"], 2)
        self.assertEqual(self.state()["counts"]["throttled"], 2)

    def test_per_second(self):
        self.throttle(per_second=5)
        began = time.monotonic()
        statuses = self.burst(7)
        if time.monotonic() - began > 0.9:
            self.skipTest("the machine was too slow for a 1 s window")
        self.assertEqual(statuses, [200] * 5 + [429] * 2)
        sleep_until(began + 1.05)
        self.assertEqual(self.burst(1), [200])
        throttle = self.meter()
        self.assertEqual((throttle["max_in_any_second"],
                          throttle["throttled_by"]["per_second"],
                          throttle["accepted"]), (5, 2, 6))

    def test_throttle_answer_and_what_it_counts(self):
        self.throttle(per_minute=1)
        self.assertEqual(self.burst(1), [200])
        answer = self.query("select * from Item")
        self.assertEqual(answer.status, 429)
        self.assertEqual(answer.headers["Content-Type"],
                         "application/xml;charset=UTF-8")
        self.assertIn('<Error code="3001">', answer.text)
        self.assertIn("ThrottleExceeded", answer.text)
        self.assertEqual(self.burst(1), [429])
        # the refusals left no trace in the window: with room for two,
        # one more fits
        self.throttle(per_minute=2)
        self.assertEqual(self.burst(2), [200, 429])
        state = self.state()
        self.assertEqual(state["counts"]["throttled"], 3)
        self.assertEqual(state["counts"]["query"], 2)
        self.assertEqual(state["counts"]["faults_injected"], 0)
        self.assertEqual([(entry["status"], entry.get("throttled"))
                          for entry in state["requests"]],
                         [(200, None), (429, True), (429, True), (200, None),
                          (429, True)])
        self.assertEqual(state["counts"]["by_path"][
            "/v3/company/%s/query" % REALM], 5)

    def test_an_injected_429_is_a_fault_not_a_throttle(self):
        self.throttle(per_minute=2)
        self.control("/_sim/faults", {"rules": [{"path": "/v3/",
                                                 "status": 429}]})
        # the injected 429 went through the throttle, so it counts
        self.assertEqual(self.burst(3), [429, 200, 429])
        state = self.state()
        self.assertEqual((state["counts"]["faults_injected"],
                          state["counts"]["throttled"]), (1, 1))
        self.assertEqual(state["counts"]["faults_by_kind"], {"429": 1})
        self.assertEqual((state["throttle"]["accepted"],
                          state["throttle"]["throttled"]), (2, 1))
        self.assertEqual([entry.get("fault") or entry.get("throttled")
                          for entry in state["requests"]],
                         ["status", None, True])

    def test_only_company_requests_per_realm(self):
        self.throttle(per_minute=1)
        self.control("/_sim/stripe", {"products": [{"id": "prod_1"}]})
        self.assertEqual(self.burst(2), [200, 429])
        self.assertEqual(self.refresh("rt-initial").status, 200)
        stripe = self.request("GET", "/v1/products/prod_1", headers={
            "Authorization": "Bearer " + STRIPE_KEY})
        self.assertEqual(stripe.status, 200)
        self.assertEqual(self.request("GET", "/_sim/health").status, 200)
        # another realm has its own window (and gets its 403 in it)
        other = [self.qbo("GET", "query", realm="123",
                          params={"query": "select * from Item"}).status
                 for _ in range(2)]
        self.assertEqual(other, [403, 429])
        throttle = self.meter()
        self.assertEqual(sorted(throttle["by_realm"]), ["123", REALM])
        self.assertEqual((throttle["accepted"], throttle["throttled"]),
                         (2, 2))
        self.assertEqual(throttle["by_realm"]["123"]["accepted"], 1)

    def test_concurrent_requests_including_delays(self):
        self.throttle(concurrent=3)
        self.control("/_sim/faults", {"rules": [
            {"path": "/v3/", "kind": "delay", "delay_ms": 2000,
             "count": 3}]})
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            slow = [pool.submit(self.query, "select * from Item")
                    for _ in range(3)]
            deadline = time.monotonic() + 10
            while self.meter()["in_flight"] < 3:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.02)
            during = self.burst(2)
            answers = [future.result().status for future in slow]
        self.assertEqual(answers, [200] * 3)
        self.assertEqual(during, [429, 429])
        self.assertEqual(self.burst(1), [200])
        # a request leaves the count just after its answer is written
        deadline = time.monotonic() + 5
        while self.meter()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.02)
        throttle = self.meter()
        self.assertEqual((throttle["max_in_flight"], throttle["in_flight"],
                          throttle["throttled_by"]["concurrent"]), (3, 0, 2))

    def test_batch_operations_count_against_the_minute(self):
        self.throttle(per_minute=10, per_second=1000)
        self.assertEqual(self.qbo("POST", "batch", batch_of(8)).status, 200)
        # 8 + 3 would cross 10: refused whole, nothing of it done
        refused = self.qbo("POST", "batch", batch_of(3, create="never"))
        self.assertEqual(refused.status, 429)
        self.assertEqual(self.burst(1), [200])
        self.assertEqual(self.qbo("POST", "batch", batch_of(1)).status, 200)
        self.assertEqual(self.burst(1), [429])
        state = self.state()
        self.assertEqual(state["items"], [])
        self.assertEqual(state["counts"]["batch"], 2)
        throttle = state["throttle"]
        self.assertEqual((throttle["max_in_any_minute"],
                          throttle["max_batches_in_any_minute"],
                          throttle["accepted"],
                          throttle["throttled_by"]["per_minute"]),
                         (10, 2, 3, 2))

    def test_batches_per_minute(self):
        self.throttle(batch_per_minute=2, per_second=1000)
        statuses = [self.qbo("POST", "batch", batch_of(1)).status
                    for _ in range(3)]
        self.assertEqual(statuses, [200, 200, 429])
        self.assertEqual(self.burst(1), [200])      # other requests go on
        throttle = self.meter()
        self.assertEqual((throttle["throttled_by"]["batch_per_minute"],
                          throttle["max_batches_in_any_minute"],
                          throttle["max_in_any_minute"]), (1, 2, 3))

    def test_reset_clears_the_throttle(self):
        self.throttle(per_minute=1)
        self.burst(3)
        self.assertEqual(self.meter()["throttled"], 2)
        self.control("/_sim/reset", {"access_token": TOKEN})
        state = self.state()
        self.assertEqual(state["counts"]["throttled"], 0)
        self.assertEqual(state["throttle"]["config"]["enabled"], False)
        self.assertEqual((state["throttle"]["accepted"],
                          state["throttle"]["throttled"],
                          state["throttle"]["max_in_any_minute"],
                          state["throttle"]["by_realm"]), (0, 0, 0, {}))
        self.assertEqual(self.burst(12), [200] * 12)
        # reset takes the setting too, over the defaults
        config = self.control("/_sim/reset", {"access_token": TOKEN,
                                              "throttle": {"per_minute": 2}})
        self.assertEqual(config["throttle"]["per_minute"], 2)
        self.assertTrue(config["throttle"]["enabled"])
        self.assertEqual(self.burst(3), [200, 200, 429])

    def test_settings_are_checked_and_merged(self):
        config = self.throttle(per_minute=30, time_scale=0.5)
        self.assertEqual(config["throttle"], {
            "enabled": True, "per_minute": 30, "per_second": 10,
            "concurrent": 10, "batch_per_minute": 40, "time_scale": 0.5})
        config = self.control("/_sim/config", {"throttle": {"enabled":
                                                            False}})
        self.assertEqual((config["throttle"]["enabled"],
                          config["throttle"]["per_minute"]), (False, 30))
        config = self.control("/_sim/config", {"throttle": True})
        self.assertTrue(config["throttle"]["enabled"])
        for bad in ({"per_minute": 0}, {"per_second": -1},
                    {"concurrent": 2.5}, {"batch_per_minute": True},
                    {"per_minute": "many"}, {"time_scale": 0},
                    {"time_scale": "fast"}, {"enabled": "yes"},
                    {"colour": 1}):
            answer = self.request("POST", "/_sim/config", {"throttle": bad})
            self.assertEqual(answer.status, 400, bad)
            self.assertIn("error", answer.json)
        self.assertEqual(self.request("POST", "/_sim/config", {
            "throttle": 5}).status, 400)
        self.assertEqual(self.state()["config"]["throttle"]["per_minute"],
                         30)
        options = urllib.parse.quote(json.dumps({"throttle": {
            "per_minute": 7}}))
        self.assertEqual(self.request("GET", "/_sim/config?json=" + options)
                         .status, 200)
        self.assertEqual(self.meter()["config"]["per_minute"], 7)


class FaultScheduleTest(SimTestCase):
    """Fault rules with a probability and weighted kinds."""

    def faults(self, rules, **options):
        return self.control("/_sim/faults", dict(options, rules=rules))

    def statuses(self, count):
        return [self.query("select * from Item").status
                for _ in range(count)]

    def test_a_seed_replays_the_schedule(self):
        rules = [{"path": "/v3/", "probability": 0.3, "status": 503}]
        answer = self.faults(rules, seed=1234)
        self.assertEqual(answer["seed"], 1234)
        self.assertEqual((answer["rules"][0]["count"],
                          answer["rules"][0]["probability"]), (None, 0.3))
        first = self.statuses(30)
        self.assertTrue(0 < first.count(503) < 30, first)
        self.assertEqual(set(first), {200, 503})
        counts = self.state()["counts"]
        self.assertEqual(counts["faults_by_kind"], {"503": first.count(503)})
        self.assertEqual(counts["faults_injected"], first.count(503))
        self.faults(rules, seed=1234)
        self.assertEqual(self.statuses(30), first)
        self.control("/_sim/reset", {"access_token": TOKEN})
        self.faults(rules, seed=1234)
        self.assertEqual(self.statuses(30), first)
        self.assertEqual(self.state()["fault_seed"], 1234)

    def test_count_limits_a_schedule(self):
        self.faults([{"path": "/v3/", "probability": 1, "count": 2,
                      "status": 500}], seed=1)
        self.assertEqual(self.statuses(4), [500, 500, 200, 200])
        self.assertEqual(self.state()["fault_rules"][0]["count"], 0)

    def test_a_missed_draw_falls_through_to_the_next_rule(self):
        self.faults([{"path": "/v3/", "probability": 0.5, "status": 500},
                     {"path": "/v3/", "count": 100, "status": 503}], seed=9)
        statuses = self.statuses(20)
        self.assertEqual(set(statuses), {500, 503})
        counts = self.state()["counts"]["faults_by_kind"]
        self.assertEqual(counts, {"500": statuses.count(500),
                                  "503": statuses.count(503)})

    def test_weighted_kinds(self):
        self.faults([{"path": "/v3/", "probability": 1, "count": 60,
                      "kinds": [{"weight": 3, "status": 500},
                                {"weight": 1, "status": 503}]}], seed=7)
        statuses = self.statuses(61)
        self.assertEqual(statuses[-1], 200)
        fives, threes = statuses.count(500), statuses.count(503)
        self.assertEqual(fives + threes, 60)
        self.assertGreater(fives, threes)
        self.assertGreater(threes, 0)
        self.assertEqual(self.state()["counts"]["faults_by_kind"],
                         {"500": fives, "503": threes})

    def test_each_kind_acts_as_its_single_rule(self):
        self.faults([{"path": "/v3/", "probability": 1, "count": 16,
                      "kinds": [{"kind": "delay", "delay_ms": 10},
                                {"kind": "reset", "process": True},
                                {"kind": "timeout", "delay_ms": 50},
                                {"weight": 0.5, "status": 500}]}], seed=3)
        seen = collections.Counter()
        for n in range(16):
            try:
                status = self.create(Name="item %d" % n).status
                seen["delay" if status == 200 else str(status)] += 1
            except http.client.RemoteDisconnected:      # FIN: a timeout
                seen["timeout"] += 1
            except ConnectionError:
                seen["reset"] += 1
        state = self.state()
        self.assertEqual(state["counts"]["faults_by_kind"], dict(seen))
        self.assertEqual(len(seen), 4, seen)
        # a delayed create is answered; a processed reset is done too
        self.assertEqual(len(state["items"]), seen["delay"] + seen["reset"])
        self.assertEqual(self.create(Name="after").status, 200)

    def test_bad_schedules_change_nothing(self):
        self.faults([{"path": "/v3/", "status": 500}], seed=5)
        before = self.state()
        for body in ({"rules": [{"probability": 0}]},
                     {"rules": [{"probability": 1.5}]},
                     {"rules": [{"probability": "often"}]},
                     {"rules": [{"kinds": []}]},
                     {"rules": [{"kinds": [{"status": 200}]}]},
                     {"rules": [{"kinds": [{"weight": 0, "status": 500}]}]},
                     {"rules": [{"kinds": [{"colour": 1}]}]},
                     {"rules": [{"status": 500, "kinds": [{"status": 503}]}]},
                     {"rules": [], "seed": True},
                     {"rules": [], "seed": 1.5},
                     {"rules": [], "sead": 1}):
            answer = self.request("POST", "/_sim/faults", body)
            self.assertEqual(answer.status, 400, body)
        after = self.state()
        self.assertEqual((after["fault_rules"], after["fault_seed"]),
                         (before["fault_rules"], before["fault_seed"]))


class ConnectionCountTest(SimTestCase):

    def test_keep_alive_against_new_connections(self):
        kept = http.client.HTTPConnection("127.0.0.1", self.port)
        target = ("/v3/company/%s/query?minorversion=75&query=select%%20*"
                  "%%20from%%20Item" % REALM)
        for _ in range(5):
            kept.request("GET", target,
                         headers={"Authorization": "Bearer " + TOKEN})
            self.assertEqual(kept.getresponse().read()[:1], b"{")
        kept.close()
        for _ in range(3):
            self.query("select * from Item")
        counts = self.state()["counts"]
        self.assertEqual(counts["by_path"]["/v3/company/%s/query" % REALM], 8)
        self.assertEqual(counts["api_connections"], 4)
        self.assertEqual(counts["connections"], 5)      # and the state's

    def test_reset_starts_the_count_again(self):
        kept = http.client.HTTPConnection("127.0.0.1", self.port)
        self.addCleanup(kept.close)
        headers = {"Authorization": "Bearer " + TOKEN}
        target = "/v3/company/%s/item/1?minorversion=75" % REALM
        kept.request("GET", target, headers=headers)
        kept.getresponse().read()
        self.control("/_sim/reset", {"access_token": TOKEN})
        kept.request("GET", target, headers=headers)
        kept.getresponse().read()
        counts = self.state()["counts"]
        # the kept connection was opened before the reset, but carried an
        # API request after it; the state request came on a new one
        self.assertEqual((counts["api_connections"], counts["connections"]),
                         (1, 1))


QBO_FIXTURES = os.path.join(TOP, "t", "fixtures", "quickbooks")


def fixture(name):
    with open(os.path.join(QBO_FIXTURES, name), "rb") as source:
        return source.read()


def key_shape(value):
    """The keys of a JSON value, nested, without the values."""
    if isinstance(value, dict):
        return {key: key_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [key_shape(item) for item in value[:1]]
    return None


def xml_shape(text):
    """Tags and attributes of an XML answer, without text or time."""
    def walk(element):
        attributes = {key: value for key, value in element.attrib.items()
                      if key != "time"}
        return (element.tag, attributes, [walk(child) for child in element])

    return walk(ElementTree.fromstring(text))


@unittest.skipUnless(os.path.isdir(QBO_FIXTURES),
                     "t/fixtures/quickbooks is not there")
class FixtureShapeTest(SimTestCase):
    """The simulator's answers against recorded QuickBooks answers."""

    def test_json_401(self):
        answer = self.qbo("GET", "query", token="bad",
                          params={"query": "select * from Item"})
        recorded = json.loads(fixture(
            "fault_401_authentication_failed_3200.json"))
        self.assertEqual(key_shape(answer.json), key_shape(recorded))
        self.assertEqual(answer.json["fault"]["error"][0]["message"],
                         recorded["fault"]["error"][0]["message"])

    def test_xml_faults(self):
        self.control("/_sim/config", {"auth_fault_format": "xml"})
        answer = self.qbo("GET", "query", token="bad",
                          params={"query": "select * from Item"})
        recorded = fixture("fault_401_general_authentication_100.xml")
        self.assertEqual(xml_shape(answer.raw), xml_shape(recorded))
        self.control("/_sim/faults", {"rules": [{"status": 429}]})
        answer = self.query("select * from Item")
        recorded = fixture("fault_429_throttle_exceeded_3001.xml")
        self.assertEqual(xml_shape(answer.raw), xml_shape(recorded))

    def test_duplicate_name(self):
        self.seed({"Name": "T-shirt"})
        answer = self.create(Name="T-shirt")
        recorded = json.loads(fixture("fault_duplicate_name_6240.json"))
        self.assertEqual(key_shape(answer.json), key_shape(recorded))

    def test_oauth_success_and_failure(self):
        recorded = json.loads(fixture(
            "oauth_success_refreshtoken_response.json"))
        del recorded["id_token"]
        self.assertEqual(key_shape(self.refresh("rt-initial").json),
                         key_shape(recorded))
        recorded = json.loads(fixture("oauth_failure_token_response.json"))
        self.assertEqual(key_shape(self.refresh("rt-initial").json),
                         key_shape(recorded))

    def test_inventory_create_and_full_update_requests(self):
        answer = self.qbo("POST", "item", raw_body=fixture(
            "item_create_request_inventory.json"))
        self.assertEqual(answer.status, 200, answer.text)
        recorded = json.loads(fixture("item_create_response_inventory.json"))
        self.assertEqual(set(answer.json["Item"]), set(recorded["Item"]))
        update = json.loads(fixture("item_full_update_request.json"))
        update.update(Id="1", SyncToken="0")
        answer = self.qbo("POST", "item", update)
        self.assertEqual(answer.status, 200, answer.text)
        self.assertEqual(answer.json["Item"]["Description"],
                         update["Description"])


class ProcessTest(unittest.TestCase):

    def test_start_up_is_quick_and_quiet(self):
        limit = 5                       # generous: a loaded CI machine
        fastest = limit
        for _ in range(3):              # the best of three: a busy machine
            process, port, elapsed = start_sim()
            fastest = min(fastest, elapsed)
            if elapsed < limit:
                break
            stop_sim(process)
        self.assertLess(fastest, limit)
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port)
            connection.request("GET", "/_sim/health")
            self.assertEqual(connection.getresponse().status, 200)
            connection.close()
        finally:
            process.terminate()
            out, err = process.communicate(timeout=10)
        self.assertEqual(out, b"")
        self.assertEqual(err, b"")

    def test_state_file_keeps_the_company(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        path = os.path.join(directory, "company.json")

        process, port, _ = start_sim("--state-file", path)
        try:
            case = SimTestCase()
            case.port = port
            case.request("POST", "/_sim/reset", {"access_token": "at-keep"})
            case.request("POST", "/_sim/items",
                         '{"items":[{"Name":"kept","UnitPrice":1.50}]}')
        finally:
            stop_sim(process)

        process, port, _ = start_sim("--state-file", path)
        try:
            case.port = port
            answer = case.qbo("GET", "query", token="at-keep",
                              params={"query": "select * from Item"})
            self.assertIn('"UnitPrice":1.50,', answer.text)
            created = case.qbo("POST", "item", {
                "Name": "next", "Type": "NonInventory",
                "ExpenseAccountRef": {"value": "80"}}, token="at-keep")
            self.assertEqual(created.json["Item"]["Id"], "2")
        finally:
            stop_sim(process)


@unittest.skipUnless(shutil.which("perl"), "perl is not installed")
class PerlHelperTest(unittest.TestCase):

    def perl(self, code, **env):
        return subprocess.run(
            ["perl", "-I" + os.path.join(TOP, "t", "lib"), "-MQbsync::Sim",
             "-e", code], capture_output=True, text=True, timeout=60,
            env=dict(os.environ, **env))

    def test_start_control_and_stop(self):
        result = self.perl(
            'my $port = Qbsync::Sim::start();'
            'die "env" unless $ENV{TEST_NGINX_SIM_PORT} == $port;'
            'my $c = Qbsync::Sim::control(POST => "/_sim/reset",'
            '                             { access_token => "at-perl" });'
            'my ($h, $s) = Qbsync::Sim::control(GET => "/_sim/health");'
            'print "pid ", Qbsync::Sim::pid(), " ok $h->{ok} $s ",'
            '      $c->{has_valid_access_token} ? "valid" : "none", "\\n";'
            'exit 3;')
        self.assertEqual(result.returncode, 3, result.stderr)
        words = result.stdout.split()
        self.assertEqual(words[2:], ["ok", "1", "200", "valid"])
        pid = int(words[1])
        time.sleep(0.1)
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)

    def test_failure_to_start_dies_with_the_reason(self):
        result = self.perl("Qbsync::Sim::start()",
                           QBSYNC_SIM_PYTHON="/bin/false")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("exited before printing its port", result.stderr)


if __name__ == "__main__":
    unittest.main()
