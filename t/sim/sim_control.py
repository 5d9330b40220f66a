"""The control API under /_sim/: how tests, the demo and the benchmarks
set the simulated company up and look at what the module did to it.

JSON in, JSON out, no authentication. The JSON comes from the request body,
or, when the body is empty, from a "json" query parameter, so that a
Test::Nginx pipelined request line (which cannot carry a body) can drive
every endpoint; GET and POST are therefore both accepted.
"""

import copy
import time

import sim_items
import sim_state
import sim_wire
from sim_wire import QboFault


def handle(state, request):
    """Route a /_sim/ request; the caller holds the state's lock."""
    action = ACTIONS.get(request.path)
    if action is None:
        return _answer(404, {"error": "no such control endpoint",
                             "path": request.path})
    if request.method not in ("GET", "POST"):
        return _answer(405, {"error": "use GET or POST"})
    try:
        options = _options(request)
        return _answer(200, action(state, options))
    except sim_state.ControlError as error:
        return _answer(400, {"error": str(error)})
    except QboFault as fault:
        return _answer(400, {"error": fault.detail,
                             "Fault": fault.envelope()})


def _answer(status, value):
    return sim_wire.json_reply(status, value, sim_wire.PLAIN_JSON_TYPE)


def _options(request):
    text = request.body or (request.param("json") or "").encode()
    if not text.strip():
        return {}
    try:
        options = sim_wire.decode_json(text)
    except ValueError as error:
        raise sim_state.ControlError("not JSON: %s" % error) from None
    if not isinstance(options, dict):
        raise sim_state.ControlError("a JSON object is expected")
    return options


# --- endpoints -------------------------------------------------------------

def health(state, options):
    return {"ok": True}


def show_state(state, options):
    return state.snapshot()


def reset(state, options):
    state.reset(options)
    return state.public_config()


def configure(state, options):
    state.configure(options)
    return state.public_config()


def seed_items(state, options):
    """Put items in place, all or none (a refused one leaves the store as
    it was); answers the seeded items with every field."""
    items = options.get("items", [])
    if not isinstance(items, list):
        raise sim_state.ControlError("items must be a list")
    store = copy.deepcopy(state.store)
    now = sim_wire.meta_time()
    seeded = [store.seed(fields, now) for fields in items]
    state.store = store
    state.dirty = True
    return {"items": [sim_items.complete(item) for item in seeded]}


def set_faults(state, options):
    """Replace (or extend) the fault rules; "seed" restarts the random
    source of probabilities and kinds, so that a schedule can be replayed.
    Checked before anything changes: a refusal leaves both as they were."""
    unknown = set(options) - {"rules", "append", "seed"}
    if unknown:
        raise sim_state.ControlError("unknown keys: %s"
                                     % ", ".join(sorted(unknown)))
    if "seed" in options:
        sim_state.checked_seed(options["seed"])
    if "rules" in options:
        state.set_fault_rules(options["rules"],
                              append=bool(options.get("append")))
    if "seed" in options:
        state.seed_faults(options["seed"])
    return {"rules": copy.deepcopy(state.fault_rules),
            "seed": state.fault_seed}


def set_tokens(state, options):
    """Expire, revoke or set tokens: the situations a token file can be in
    relative to the server (stale access token, revoked refresh token)."""
    known = {"expire_access_tokens", "revoke_refresh_token",
             "refresh_token", "access_token", "expires_in"}
    unknown = set(options) - known
    if unknown:
        raise sim_state.ControlError("unknown keys: %s"
                                     % ", ".join(sorted(unknown)))
    if options.get("expire_access_tokens"):
        state.expire_access_tokens()
    if options.get("revoke_refresh_token"):
        state.refresh_token = None
    if "refresh_token" in options:
        state.refresh_token = _string(options, "refresh_token")
    if "access_token" in options:
        lifetime = options.get("expires_in",
                               state.config["access_token_lifetime"])
        if isinstance(lifetime, bool) or not isinstance(lifetime, int):
            raise sim_state.ControlError("expires_in must be an integer")
        state.set_access_token(_string(options, "access_token"), lifetime)
    state.dirty = True
    return state.token_status()


def set_stripe(state, options):
    """Upsert products and prices by id; "remove" takes ids of either."""
    for product in _objects(options, "products"):
        price = product.get("default_price")
        if isinstance(price, dict):
            state.prices[price["id"]] = _price(price)
            product = dict(product, default_price=price["id"])
        state.products[product["id"]] = _product(product)
    for price in _objects(options, "prices"):
        state.prices[price["id"]] = _price(price)
    for object_id in options.get("remove", []):
        state.products.pop(object_id, None)
        state.prices.pop(object_id, None)
    state.dirty = True
    return {"products": sorted(state.products),
            "prices": sorted(state.prices)}


ACTIONS = {
    "/_sim/health": health,
    "/_sim/state": show_state,
    "/_sim/reset": reset,
    "/_sim/config": configure,
    "/_sim/items": seed_items,
    "/_sim/faults": set_faults,
    "/_sim/tokens": set_tokens,
    "/_sim/stripe": set_stripe,
}


# --- helpers ---------------------------------------------------------------

def _string(options, key):
    value = options[key]
    if not isinstance(value, str) or not value:
        raise sim_state.ControlError("%s must be a non-empty string" % key)
    return value


def _objects(options, key):
    objects = options.get(key, [])
    if not isinstance(objects, list) or not all(
            isinstance(obj, dict) and isinstance(obj.get("id"), str)
            for obj in objects):
        raise sim_state.ControlError("%s must be a list of objects with an "
                                     "id" % key)
    return objects


def _product(fields):
    """A Stripe product: the given fields over Stripe's defaults."""
    now = int(time.time())
    product = {
        "id": fields["id"], "object": "product", "active": True,
        "created": now, "default_price": None, "description": None,
        "images": [], "livemode": False, "marketing_features": [],
        "metadata": {}, "name": fields["id"], "package_dimensions": None,
        "shippable": None, "statement_descriptor": None, "tax_code": None,
        "unit_label": None, "updated": now, "url": None,
    }
    product.update(copy.deepcopy(fields))
    return product


def _price(fields):
    """A Stripe price: the given fields over Stripe's defaults, with
    unit_amount_decimal derived from unit_amount when left out."""
    price = {
        "id": fields["id"], "object": "price", "active": True,
        "billing_scheme": "per_unit", "created": int(time.time()),
        "currency": "usd", "custom_unit_amount": None, "livemode": False,
        "lookup_key": None, "metadata": {}, "nickname": None,
        "product": None, "recurring": None, "tax_behavior": "unspecified",
        "tiers_mode": None, "transform_quantity": None, "type": "one_time",
        "unit_amount": None, "unit_amount_decimal": None,
    }
    price.update(copy.deepcopy(fields))
    if price["unit_amount_decimal"] is None and \
            price["unit_amount"] is not None:
        price["unit_amount_decimal"] = str(price["unit_amount"])
    return price
