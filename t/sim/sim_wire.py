"""What the simulator puts on the wire: JSON with exact decimals, time
stamps, and the fault bodies QuickBooks, Intuit's OAuth server and Stripe
answer with.

The shapes are copied from recorded answers (see README.md, "Shapes"):
QuickBooks is not consistent, so neither is this file. Service faults use
capitalised keys (Fault/Error/Message) and an ISO time; the API gateway's
401 uses lowercase keys and an epoch-millisecond time; throttling (429) and
one kind of 401 come back as XML even when JSON was asked for.
"""

import datetime
import json
import secrets
import urllib.parse
from decimal import Decimal


JSON_TYPE = "application/json;charset=UTF-8"
XML_TYPE = "application/xml;charset=UTF-8"
PLAIN_JSON_TYPE = "application/json"


class Reply:
    """One HTTP answer, built by the service code and written by the
    handler; kept whole so that requestid replays send the same bytes."""

    __slots__ = ("status", "body", "content_type", "headers")

    def __init__(self, status, body, content_type=JSON_TYPE, headers=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode()
        self.content_type = content_type
        self.headers = headers or []


class QboFault(Exception):
    """A QuickBooks service fault: raised anywhere below the handler,
    turned into a Fault envelope (or a batch item's Fault) by the caller."""

    def __init__(self, code, message, detail, element=None,
                 fault_type="ValidationFault", status=400):
        super().__init__(detail)
        self.code = str(code)
        self.message = message
        self.detail = detail
        self.element = element
        self.fault_type = fault_type
        self.status = status

    def envelope(self):
        """The Fault object without the time, as a batch item carries it."""
        error = {"Message": self.message, "Detail": self.detail,
                 "code": self.code}
        if self.element is not None:
            error["element"] = self.element
        return {"Error": [error], "type": self.fault_type}

    def reply(self):
        return json_reply(self.status,
                          {"Fault": self.envelope(), "time": qbo_time()})


# --- JSON ----------------------------------------------------------------

def _reject_constant(name):
    raise ValueError("JSON constant %s is not allowed" % name)


def decode_json(data):
    """Parse a request body keeping every number exact: UnitPrice "19.99"
    must come back as 19.99, never as a binary float's neighbour."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return json.loads(data, parse_float=Decimal,
                      parse_constant=_reject_constant)


def encode_json(value):
    """Serialise with Decimals written as their own text (json.dumps
    cannot); returns bytes."""
    parts = []
    _encode(value, parts.append)
    return "".join(parts).encode("utf-8")


def _encode_string(text):
    try:
        text.encode("utf-8")
        return json.dumps(text, ensure_ascii=False)
    except UnicodeEncodeError:
        # a lone surrogate from a "\ud800" escape: keep it escaped
        return json.dumps(text)


def _encode(value, out):
    if value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, str):
        out(_encode_string(value))
    elif isinstance(value, int):
        out(str(int(value)))
    elif isinstance(value, Decimal):
        out(str(value))
    elif isinstance(value, float):
        out(repr(value))
    elif isinstance(value, dict):
        out("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out(",")
            out(_encode_string(str(key)))
            out(":")
            _encode(item, out)
        out("}")
    elif isinstance(value, (list, tuple)):
        out("[")
        for index, item in enumerate(value):
            if index:
                out(",")
            _encode(item, out)
        out("]")
    else:
        raise TypeError("cannot encode %r" % type(value))


def json_reply(status, value, content_type=JSON_TYPE, headers=None):
    return Reply(status, encode_json(value), content_type, headers)


# --- time ----------------------------------------------------------------

def _now():
    return datetime.datetime.now().astimezone()


def qbo_time():
    """The "time" member of every QuickBooks answer:
    2015-04-22T11:04:34.194-07:00."""
    return _now().isoformat(timespec="milliseconds")


def meta_time():
    """MetaData.CreateTime/LastUpdatedTime: 2015-12-09T11:12:39-08:00."""
    return _now().isoformat(timespec="seconds")


def epoch_ms():
    return int(_now().timestamp() * 1000)


def intuit_tid():
    """Intuit's transaction id header: "1-" + hex, as seen in the wild."""
    return "1-%s-%s" % (secrets.token_hex(4), secrets.token_hex(12))


# --- QuickBooks faults -------------------------------------------------------

def object_not_found():
    return QboFault(
        610, "Object Not Found",
        "Object Not Found : Something you're trying to use has been made "
        "inactive. Check the fields with accounts, customers, items, "
        "vendors or employees.", element="")


def stale_object():
    return QboFault(
        5010, "Stale Object Error",
        "Stale Object Error : You and root were working on this at the same "
        "time. root finished before you did, so your work was not saved.",
        element="")


def duplicate_name(existing_id):
    return QboFault(6240, "Duplicate Name Exists Error",
                    "The name supplied already exists. : Id=%s" % existing_id)


def required_missing(element, detail=None):
    return QboFault(
        2020, "Required param missing, need to supply the required value "
        "for the API", detail or "Required parameter %s is missing in the "
        "request" % element, element=element)


def invalid_property(element, why):
    return QboFault(
        2010, "Request has invalid or unsupported property",
        "Property Name:%s specified is unsupported or invalid: %s"
        % (element, why), element=element)


def length_exceeded(element, maximum, supplied):
    return QboFault(
        2050, "Length exceeds limit",
        "String length is either shorter or longer than supported by "
        "specification. Min:1 Max:%d supported. Supplied length:%d"
        % (maximum, supplied), element=element)


def business_validation(detail, element=None):
    return QboFault(
        6000, "A business validation error has occurred while processing "
        "your request", "Business Validation Error: %s" % detail,
        element=element)


def unsupported_media_type(media_type):
    return QboFault(
        415, "Unsupported Media Type", "Content-Type %r: the simulator "
        "takes application/json bodies only" % media_type, status=415)


def unsupported_operation(detail):
    return QboFault(500, "Unsupported Operation", detail)


def query_parser_error(detail):
    return QboFault(4000, "Error parsing query",
                    "QueryParserError: %s" % detail)


def query_validation_error(detail):
    return QboFault(4001, "Invalid query",
                    "QueryValidationError: %s" % detail)


def authorization_fault(realm):
    """403: the token is good but not for this company."""
    return QboFault(
        3100, "message=AuthorizationFailed; errorCode=003100; "
        "statusCode=403", "Not authorized to access realm %s" % realm,
        fault_type="AuthorizationFault", status=403)


def system_fault_reply():
    return QboFault(
        10000, "An application error has occurred while processing your "
        "request", "System Failure Error: An unexpected error occurred "
        "while accessing or saving your data. Please wait a few minutes "
        "and try again. If the problem persists, contact customer support.",
        fault_type="SystemFault", status=500).reply()


def service_unavailable_reply():
    return QboFault(
        3003, "message=ServiceUnavailable; errorCode=003003; "
        "statusCode=503", "The service is temporarily unavailable. "
        "Try again later", fault_type="SERVICE", status=503).reply()


def auth_fault_reply(fmt, detail):
    """The 401 a bad, expired or missing bearer token gets: the gateway's
    lowercase JSON (fixture fault_401_authentication_failed_3200.json) or
    the service's XML (fault_401_general_authentication_100.xml)."""
    if fmt == "xml":
        return Reply(401, _intuit_xml(
            "AuthenticationFault", "100", "General Authentication Error",
            "AuthenticationErrorGeneral: SRV-110-Authentication Failure , "
            "statusCode: 401"), XML_TYPE)
    body = {
        "warnings": None, "intuitObject": None,
        "fault": {"error": [{
            "message": "message=AuthenticationFailed; errorCode=003200; "
                       "statusCode=401",
            "detail": detail, "code": "3200", "element": None}],
            "type": "AUTHENTICATION"},
        "report": None, "queryResponse": None, "batchItemResponse": [],
        "attachableResponse": [], "syncErrorResponse": None,
        "requestId": None, "time": epoch_ms(), "status": None,
        "cdcresponse": [],
    }
    return json_reply(401, body)


def throttle_reply():
    """429 as QuickBooks sends it: XML whatever Accept said."""
    return Reply(429, _intuit_xml(
        "SERVICE", "3001",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached.  Try again later"), XML_TYPE)


def _intuit_xml(fault_type, code, message, detail):
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" '
        'time="%s">\n'
        '  <Fault type="%s">\n'
        '    <Error code="%s">\n'
        '      <Message>%s</Message>\n'
        '      <Detail>%s</Detail>\n'
        '    </Error>\n'
        '  </Fault>\n'
        '</IntuitResponse>\n'
        % (qbo_time(), fault_type, code, message, detail))


# --- OAuth and Stripe errors ---------------------------------------------

def oauth_error(status, error, description=None):
    body = {"error": error}
    if description is not None:
        body["error_description"] = description
    return json_reply(status, body, headers=[("Cache-Control", "no-store")])


def stripe_error(status, error_type, message, code=None, param=None):
    error = {}
    if code is not None:
        error["code"] = code
    error["message"] = message
    if param is not None:
        error["param"] = param
    error["type"] = error_type
    return json_reply(status, {"error": error}, PLAIN_JSON_TYPE)


# --- requests ------------------------------------------------------------

class Request:
    """What the service code needs of an HTTP request, read in full."""

    def __init__(self, method, target, headers, body):
        self.method = method
        self.target = target
        path, _, query = target.partition("?")
        self.path = urllib.parse.unquote(path)
        self.params = urllib.parse.parse_qs(query, keep_blank_values=True,
                                            errors="replace")
        self.headers = headers
        self.body = body
        self.notes = {}         # what the log should say (replayed, ...)

    def param(self, name):
        values = self.params.get(name)
        return values[0] if values else None

    def header(self, name):
        return self.headers.get(name) or ""


def parse_form(body):
    """An application/x-www-form-urlencoded body as {name: first value}."""
    text = body.decode("utf-8", "replace")
    return {name: values[0] for name, values
            in urllib.parse.parse_qs(text, keep_blank_values=True).items()}
