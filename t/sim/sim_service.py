"""The APIs the module talks to: Intuit's OAuth token endpoint, the
QuickBooks company endpoints (query, item, batch) and Stripe's product
retrieval. Each function takes the state (its lock held by the caller) and
a sim_wire.Request, and returns a sim_wire.Reply.

Checks run in the order QuickBooks' layers would: the gateway first
(bearer token, then realm), then the service (minorversion, requestid
replay, the operation itself).
"""

import base64
import binascii
import copy
import re
import secrets

import sim_items
import sim_query
import sim_wire
from sim_wire import QboFault


COMPANY_PATH = re.compile(r"^/v3/company/([^/]+)/(.+)$")
STRIPE_PRODUCT_PATH = re.compile(r"^/v1/products/([^/]+)$")
TOKEN_PATH = "/oauth2/v1/tokens/bearer"

REQUEST_ID_LIMIT = 50           # Intuit's blog, "Request ID update"
BATCH_REQUEST_ID_LIMIT = 36
BATCH_ID_LIMIT_WITH_REQUEST_ID = 10
BATCH_LIMIT = 30                # Intuit's Batch reference


def route(state, request):
    """The reply for any request outside /_sim/."""
    if request.path == TOKEN_PATH:
        if request.method != "POST":
            return not_allowed(request)
        return oauth_token(state, request)
    company = COMPANY_PATH.match(request.path)
    if company:
        return company_request(state, request, *company.groups())
    product = STRIPE_PRODUCT_PATH.match(request.path)
    if product:
        if request.method != "GET":
            return not_allowed(request)
        return stripe_product(state, request, product.group(1))
    return not_found(request)


def not_found(request):
    return sim_wire.json_reply(404, {
        "error": "not_found", "method": request.method,
        "path": request.path,
        "message": "no such endpoint in the QuickBooks simulator"})


def not_allowed(request):
    return sim_wire.json_reply(405, {
        "error": "method_not_allowed", "method": request.method,
        "path": request.path})


def metered(request):
    """(realm, operations, is_batch) for a request QuickBooks' throttle
    counts, None for the others (OAuth, Stripe): every company request,
    refused or not, and a batch as many operations as it carries, since
    QuickBooks meters each of them."""
    company = COMPANY_PATH.match(request.path)
    if not company:
        return None
    realm, resource = company.groups()
    if resource == "batch" and request.method == "POST":
        return realm, _batch_size(request.body), True
    return realm, 1, False


def _batch_size(body):
    """How many operations a batch body carries; 1 when it cannot be read
    (the service then refuses it, and the request still counted)."""
    try:
        entries = sim_wire.decode_json(body).get("BatchItemRequest")
    except (ValueError, AttributeError, RecursionError):
        return 1
    return max(1, len(entries)) if isinstance(entries, list) else 1


def api_of(path):
    """Which API a path belongs to, for the shape of injected faults."""
    if path == TOKEN_PATH:
        return "oauth"
    if STRIPE_PRODUCT_PATH.match(path):
        return "stripe"
    return "qbo"


# --- injected faults -------------------------------------------------

def injected_reply(rule, path, auth_format):
    """The answer an injected status fault gets, in the shape of the API
    the path belongs to (QuickBooks, Intuit OAuth or Stripe)."""
    status = rule["status"]
    if rule["body"] is not None:
        body = rule["body"]
        if isinstance(body, str):
            data = body.encode()
            guessed = (sim_wire.XML_TYPE if body.lstrip().startswith("<")
                       else sim_wire.JSON_TYPE)
        else:
            data = sim_wire.encode_json(body)
            guessed = sim_wire.JSON_TYPE
        return sim_wire.Reply(status, data, rule["content_type"] or guessed)
    api = api_of(path)
    if api == "oauth":
        return _oauth_fault(status)
    if api == "stripe":
        return _stripe_fault(status)
    return _qbo_fault(status, auth_format)


def _qbo_fault(status, auth_format):
    if status == 429:
        return sim_wire.throttle_reply()
    if status == 401:
        return sim_wire.auth_fault_reply(auth_format,
                                         "Token validation failed")
    if status == 500:
        return sim_wire.system_fault_reply()
    if status == 503:
        return sim_wire.service_unavailable_reply()
    if status == 400:
        return sim_wire.business_validation(
            "injected by the simulator").reply()
    if status == 403:
        return sim_wire.authorization_fault("(injected)").reply()
    return sim_wire.QboFault(
        status, "HTTP %d" % status, "Injected by the simulator",
        fault_type="SystemFault", status=status).reply()


def _oauth_fault(status):
    if status == 401:
        return sim_wire.oauth_error(401, "invalid_client")
    if status == 400:
        return sim_wire.oauth_error(400, "invalid_grant",
                                    "Incorrect or invalid refresh token")
    return sim_wire.oauth_error(status, "server_error",
                                "Injected by the simulator")


def _stripe_fault(status):
    error_type = {401: "invalid_request_error", 400: "invalid_request_error",
                  429: "rate_limit_error"}.get(status, "api_error")
    return sim_wire.stripe_error(status, error_type,
                                 "Injected by the simulator (HTTP %d)"
                                 % status)


# --- OAuth -------------------------------------------------------------

def _basic_credentials(authorization):
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
        user, _, password = decoded.decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def oauth_token(state, request):
    """The refresh grant, as Intuit's token endpoint answers it: client
    authentication by HTTP Basic, form body, rotation of the refresh token
    (the old one is dead at once), 400 invalid_grant for a dead one."""
    config = state.config
    credentials = _basic_credentials(request.header("Authorization"))
    if credentials != (config["client_id"], config["client_secret"]):
        state.count("refresh_failed")
        return sim_wire.oauth_error(401, "invalid_client")
    media_type = request.header("Content-Type").split(";")[0].strip()
    if media_type.lower() != "application/x-www-form-urlencoded":
        state.count("refresh_failed")
        return sim_wire.oauth_error(
            400, "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded")
    form = sim_wire.parse_form(request.body)
    request.notes["grant_type"] = form.get("grant_type")
    if form.get("grant_type") != "refresh_token":
        state.count("refresh_failed")
        return sim_wire.oauth_error(400, "unsupported_grant_type")
    refresh_token = form.get("refresh_token")
    if not refresh_token:
        state.count("refresh_failed")
        return sim_wire.oauth_error(400, "invalid_request",
                                    "refresh_token is required")
    if refresh_token != state.refresh_token:
        state.count("refresh_failed")
        return sim_wire.oauth_error(400, "invalid_grant",
                                    "Incorrect or invalid refresh token")
    state.count("refresh")
    access_token = state.issue_access_token()
    return sim_wire.json_reply(200, {
        "token_type": "bearer",
        "expires_in": config["access_token_lifetime"],
        "refresh_token": state.rotate_refresh_token(),
        "x_refresh_token_expires_in": config["refresh_token_lifetime"],
        "access_token": access_token,
    }, headers=[("Cache-Control", "no-store"), ("Pragma", "no-cache")])


# --- QuickBooks: the gateway and the service ---------------------------

def _bearer_refusal(state, request):
    """None for a current access token, else the 401 the gateway sends."""
    scheme, _, token = request.header("Authorization").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        detail = "Authorization header missing or not a bearer token"
    else:
        validity = state.access_token_state(token)
        if validity == "valid":
            return None
        detail = ("Token expired" if validity == "expired"
                  else "Token validation failed")
    state.count("unauthorized")
    return sim_wire.auth_fault_reply(state.config["auth_fault_format"],
                                     detail)


def _minorversion_refusal(state, request):
    minorversion = request.param("minorversion")
    if minorversion is None:
        if not state.config["minorversion_required"]:
            return None
        return sim_wire.required_missing(
            "minorversion", "Required parameter minorversion is missing in "
            "the request (the simulator requires it; QuickBooks would "
            "assume 75)").reply()
    if not minorversion.isdigit():
        return sim_wire.invalid_property(
            "minorversion", "an integer is required").reply()
    return None


def company_request(state, request, realm, resource):
    refusal = _bearer_refusal(state, request)
    if refusal is not None:
        return refusal
    if realm != state.config["realm"]:
        return sim_wire.authorization_fault(realm).reply()
    refusal = _minorversion_refusal(state, request)
    if refusal is not None:
        return refusal

    request_id = request.param("requestid") or None
    if request_id is not None:
        limit = (BATCH_REQUEST_ID_LIMIT if resource == "batch"
                 else REQUEST_ID_LIMIT)
        if len(request_id) > limit:
            return sim_wire.length_exceeded("requestid", limit,
                                            len(request_id)).reply()
        replay = state.replayed(realm, request_id)
        if replay is not None:
            request.notes["replayed"] = True
            return replay

    reply = _operation(state, request, resource, request_id)
    if request_id is not None and reply.status < 500:
        state.remember(realm, request_id, reply)
    return reply


def _operation(state, request, resource, request_id):
    try:
        if resource == "query" and request.method in ("GET", "POST"):
            return _query_request(state, request)
        if resource == "item" and request.method == "POST":
            return _item_write_request(state, request)
        if resource.startswith("item/") and request.method == "GET":
            return _item_read_request(state, resource[len("item/"):])
        if resource == "batch" and request.method == "POST":
            return _batch_request(state, request, request_id)
    except QboFault as fault:
        return fault.reply()
    if resource in ("query", "item", "batch") or resource.startswith("item/"):
        return not_allowed(request)
    return not_found(request)


def _item_reply(item):
    return sim_wire.json_reply(200, {"Item": sim_items.shown(item),
                                     "time": sim_wire.qbo_time()})


def _decode_body(request):
    """The JSON body of an item or batch write; QuickBooks reads a body
    by its Content-Type (XML otherwise), so a missing one is an error."""
    media_type = request.header("Content-Type").split(";")[0].strip()
    if media_type.lower() != "application/json":
        raise sim_wire.unsupported_media_type(media_type)
    try:
        return sim_wire.decode_json(request.body)
    except UnicodeDecodeError:
        raise sim_wire.unsupported_operation(
            "The request body is not UTF-8. Use UTF-8") from None
    except ValueError as error:
        raise sim_wire.invalid_property(
            "body", "the request is not valid JSON (%s)" % error) from None


# --- query ---------------------------------------------------------------

def run_query(state, statement):
    """The QueryResponse object for a statement, or a QboFault."""
    if not statement or not statement.strip():
        raise sim_wire.query_parser_error("the query is empty")
    query = sim_query.parse(statement)
    response = query.run(state.store.candidates(query))
    if "Item" in response:
        response["Item"] = [sim_items.shown(item)
                            for item in response["Item"]]
    return response


def _query_request(state, request):
    state.count("query")
    if request.method == "GET":
        statement = request.param("query")
    else:
        statement = request.body.decode("utf-8", "replace")
    return sim_wire.json_reply(200, {
        "QueryResponse": run_query(state, statement),
        "time": sim_wire.qbo_time()})


# --- item ----------------------------------------------------------------

def write_item(state, body, operation=None):
    """Create (no Id) or update (Id, SyncToken, sparse) one item."""
    if not isinstance(body, dict):
        raise sim_wire.invalid_property("Item", "an object is required")
    if operation is None:
        operation = "update" if body.get("Id") is not None else "create"
    state.count(operation)
    now = sim_wire.meta_time()
    state.dirty = True
    if operation == "create":
        return state.store.create(body, now)
    if body.get("Id") is None:
        raise sim_wire.required_missing("Id")
    return state.store.update(body, now)


def _item_write_request(state, request):
    operation = request.param("operation")
    if operation is not None and operation != "update":
        raise sim_wire.unsupported_operation(
            "Operation %s is not supported for Item (inactivate it with "
            "Active=false)" % operation)
    return _item_reply(write_item(state, _decode_body(request)))


def _item_read_request(state, item_id):
    state.count("read")
    item = state.store.get(item_id)
    if item is None:
        raise sim_wire.object_not_found()
    return _item_reply(item)


# --- batch ---------------------------------------------------------------

def _batch_request(state, request, request_id):
    state.count("batch")
    body = _decode_body(request)
    entries = body.get("BatchItemRequest") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries:
        raise sim_wire.required_missing("BatchItemRequest")
    if len(entries) > BATCH_LIMIT:
        raise sim_wire.business_validation(
            "a BatchItemRequest holds at most %d payloads, this one has %d"
            % (BATCH_LIMIT, len(entries)), "BatchItemRequest")
    _check_batch_ids(entries, request_id)
    return sim_wire.json_reply(200, {
        "BatchItemResponse": [_batch_entry(state, entry)
                              for entry in entries],
        "time": sim_wire.qbo_time()})


def _check_batch_ids(entries, request_id):
    seen = set()
    for entry in entries:
        bid = entry.get("bId") if isinstance(entry, dict) else None
        if not isinstance(bid, str) or not bid:
            raise sim_wire.required_missing("bId")
        if bid in seen:
            raise sim_wire.invalid_property("bId", "%s is not unique" % bid)
        if request_id is not None and len(bid) > \
                BATCH_ID_LIMIT_WITH_REQUEST_ID:
            raise sim_wire.length_exceeded(
                "bId", BATCH_ID_LIMIT_WITH_REQUEST_ID, len(bid))
        seen.add(bid)


def _batch_entry(state, entry):
    """One BatchItemResponse member: the entity, a QueryResponse or a
    Fault, each with its bId; a fault here never fails the batch."""
    bid = entry["bId"]
    try:
        if "Query" in entry:
            state.count("query")
            return {"bId": bid,
                    "QueryResponse": run_query(state, entry["Query"])}
        entities = [key for key in entry
                    if key not in ("bId", "operation", "optionsData")]
        if entities != ["Item"]:
            raise sim_wire.unsupported_operation(
                "Entity %s is not supported by the simulator (Item only)"
                % ", ".join(entities or ["(none)"]))
        operation = entry.get("operation")
        if operation is None:
            raise sim_wire.required_missing("operation")
        if operation not in ("create", "update"):
            raise sim_wire.unsupported_operation(
                "Operation %s is not supported for Item" % operation)
        item = write_item(state, entry["Item"], operation)
        return {"bId": bid, "Item": sim_items.shown(item)}
    except QboFault as fault:
        return {"bId": bid, "Fault": fault.envelope()}


# --- Stripe --------------------------------------------------------------

def _stripe_key(authorization):
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    credentials = _basic_credentials(authorization)
    return credentials[0] if credentials else None


def stripe_product(state, request, product_id):
    """GET /v1/products/{id}[?expand[]=default_price], as Stripe answers."""
    key = _stripe_key(request.header("Authorization"))
    if key is None:
        return sim_wire.stripe_error(
            401, "invalid_request_error",
            "You did not provide an API key. You need to provide your API "
            "key in the Authorization header, using Bearer auth (e.g. "
            "'Authorization: Bearer YOUR_SECRET_KEY').")
    if key != state.config["stripe_key"]:
        return sim_wire.stripe_error(
            401, "invalid_request_error",
            "Invalid API Key provided: %s***" % key[:8])
    state.count("stripe_product")
    expand = request.params.get("expand[]", []) + \
        request.params.get("expand", [])
    for path in expand:
        if path != "default_price":
            return sim_wire.stripe_error(
                400, "invalid_request_error",
                "This property cannot be expanded (%s)." % path,
                param="expand")
    product = state.products.get(product_id)
    if product is None:
        return sim_wire.stripe_error(
            404, "invalid_request_error",
            "No such product: '%s'" % product_id, code="resource_missing",
            param="id")
    product = copy.deepcopy(product)
    if expand and product.get("default_price") is not None:
        product["default_price"] = copy.deepcopy(
            state.prices.get(product["default_price"]))
    return sim_wire.json_reply(
        200, product, sim_wire.PLAIN_JSON_TYPE,
        headers=[("Request-Id", "req_" + secrets.token_hex(7))])
