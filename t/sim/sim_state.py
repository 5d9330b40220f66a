"""Everything the simulator remembers, behind one lock: configuration,
OAuth tokens, the items, Stripe's products and prices, fault rules,
requestid answers, counters and the last requests.

One lock for all of it keeps every request atomic (a refresh rotates the
token for exactly one caller, a create checks and claims a name in one
step) at a cost nobody notices: each operation holds it for microseconds,
and waiting (injected delays and timeouts) happens outside it.
"""

import collections
import copy
import os
import secrets
import tempfile
import threading
import time

import sim_items
import sim_wire


DEFAULT_CONFIG = {
    "realm": "9341453201",
    "client_id": "qbsync-client",
    "client_secret": "qbsync-client-secret",
    "access_token_lifetime": 3600,
    "refresh_token_lifetime": 8726400,
    "rotate_refresh_tokens": True,
    "auth_fault_format": "json",
    "stripe_key": "sk_test_qbsync",
    "minorversion_required": True,
}
DEFAULT_REFRESH_TOKEN = "rt-initial"
SECRET_SETTINGS = ("client_secret", "stripe_key")

COUNTERS = ("query", "create", "update", "read", "batch", "refresh",
            "refresh_failed", "stripe_product", "replayed", "unauthorized",
            "faults_injected")
REQUEST_LOG_SIZE = 200
REPLAY_MEMORY = 100000

FAULT_KINDS = ("status", "timeout", "reset", "delay")
DEFAULT_TIMEOUT_MS = 30000


class ControlError(Exception):
    """A control-API request the simulator cannot follow: answered 400."""


class SimState:

    def __init__(self, state_file=None):
        self.lock = threading.Lock()
        self.state_file = state_file
        self.save_lock = threading.Lock()
        self.dirty = False
        self.reset({})
        if state_file and os.path.exists(state_file):
            self.load(state_file)

    # --- configuration -----------------------------------------------------

    def reset(self, options):
        """Back to a fresh company; options override the defaults.
        The caller holds the lock (or is the constructor)."""
        settings = {key: value for key, value in options.items()
                    if key not in ("refresh_token", "access_token")}
        config = _checked_config(DEFAULT_CONFIG, settings)
        refresh_token = _text(options, "refresh_token", DEFAULT_REFRESH_TOKEN)
        access_token = _text(options, "access_token", None)
        self.config = config
        self.refresh_token = refresh_token
        self.access_tokens = {}
        self.store = sim_items.ItemStore()
        self.products = {}
        self.prices = {}
        self.fault_rules = []
        self.replays = collections.OrderedDict()
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.by_path = collections.Counter()
        self.requests = collections.deque(maxlen=REQUEST_LOG_SIZE)
        if access_token is not None:
            self.set_access_token(access_token,
                                  self.config["access_token_lifetime"])
        self.dirty = True

    def configure(self, options):
        """Change settings without touching the company's data."""
        self.config = _checked_config(self.config, options)
        self.dirty = True

    def public_config(self):
        """Settings and token status; never a token or a secret (only the
        first four characters of the secrets, to tell them apart)."""
        view = dict(self.config)
        for secret in SECRET_SETTINGS:
            view[secret + "_prefix"] = view.pop(secret)[:4]
        view.update(self.token_status())
        return view

    # --- tokens ----------------------------------------------------------

    def token_status(self):
        now = time.time()
        return {
            "has_valid_access_token": any(
                expiry > now for expiry in self.access_tokens.values()),
            "refresh_token_prefix": (self.refresh_token or "")[:4] or None,
            "has_refresh_token": self.refresh_token is not None,
        }

    def issue_access_token(self):
        token = "eyJ" + secrets.token_urlsafe(48)
        now = time.time()
        self.access_tokens = {value: expiry for value, expiry
                              in self.access_tokens.items() if expiry > now}
        self.access_tokens[token] = now + self.config["access_token_lifetime"]
        self.dirty = True
        return token

    def set_access_token(self, token, lifetime):
        """Make this the one valid access token (the control API's way to
        match a token file the test wrote)."""
        self.access_tokens = {token: time.time() + lifetime}
        self.dirty = True

    def access_token_state(self, token):
        """"valid", "expired" or "unknown"."""
        expiry = self.access_tokens.get(token)
        if expiry is None:
            return "unknown"
        return "valid" if expiry > time.time() else "expired"

    def rotate_refresh_token(self):
        if self.config["rotate_refresh_tokens"]:
            self.refresh_token = secrets.token_hex(24)
            self.dirty = True
        return self.refresh_token

    def expire_access_tokens(self):
        self.access_tokens = {token: 0 for token in self.access_tokens}
        self.dirty = True

    # --- fault rules -------------------------------------------------------

    def set_fault_rules(self, rules, append=False):
        if not isinstance(rules, list):
            raise ControlError("rules must be a list")
        checked = [_fault_rule(rule) for rule in rules]
        self.fault_rules = (self.fault_rules if append else []) + checked

    def take_fault(self, method, path, target):
        """The first rule matching this request, its count consumed; None
        when the request should be answered normally."""
        for rule in self.fault_rules:
            if rule["count"] <= 0 or not _rule_matches(rule, method, path,
                                                       target):
                continue
            if rule["skip"] > 0:
                rule["skip"] -= 1
                return None
            rule["count"] -= 1
            self.counts["faults_injected"] += 1
            return dict(rule)
        return None

    # --- requestid memory --------------------------------------------------

    def replayed(self, realm, request_id):
        reply = self.replays.get((realm, request_id))
        if reply is not None:
            self.counts["replayed"] += 1
        return reply

    def remember(self, realm, request_id, reply):
        self.replays[(realm, request_id)] = reply
        while len(self.replays) > REPLAY_MEMORY:
            self.replays.popitem(last=False)

    # --- counters and the request log ------------------------------------

    def count(self, counter):
        self.counts[counter] += 1

    def log_request(self, entry):
        self.by_path[entry["path"].split("?", 1)[0]] += 1
        self.requests.append(entry)

    def snapshot(self):
        """GET /_sim/state: everything a test may check, no token."""
        counts = dict(self.counts)
        counts["by_path"] = dict(self.by_path)
        return {
            "items": [sim_items.complete(item)
                      for item in self.store.sorted_items()],
            "counts": counts,
            "requests": list(self.requests),
            "config": self.public_config(),
            "fault_rules": copy.deepcopy(self.fault_rules),
            "stripe": {"products": sorted(self.products),
                       "prices": sorted(self.prices)},
        }

    # --- persistence -----------------------------------------------------

    def save(self):
        """Write the company to --state-file if anything changed; the
        snapshot is taken under the lock, the file written outside it."""
        if not self.state_file:
            return
        with self.lock:
            if not self.dirty:
                return
            saved = {
                "config": self.config,
                "refresh_token": self.refresh_token,
                "access_tokens": self.access_tokens,
                "items": self.store.dump(),
                "stripe": {"products": self.products, "prices": self.prices},
            }
            data = sim_wire.encode_json(saved)
            self.dirty = False
        with self.save_lock:
            directory = os.path.dirname(os.path.abspath(self.state_file))
            handle, temporary = tempfile.mkstemp(dir=directory,
                                                 prefix=".qbo-sim-")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, self.state_file)

    def load(self, path):
        with open(path, "rb") as source:
            saved = sim_wire.decode_json(source.read())
        self.config.update(saved.get("config", {}))
        self.refresh_token = saved.get("refresh_token")
        self.access_tokens = {token: float(expiry) for token, expiry
                              in saved.get("access_tokens", {}).items()}
        self.store.load(saved.get("items", {}))
        stripe = saved.get("stripe", {})
        self.products = stripe.get("products", {})
        self.prices = stripe.get("prices", {})
        self.dirty = False


# --- helpers ---------------------------------------------------------------

def _text(options, key, default):
    value = options.get(key, default)
    if value is not None and not isinstance(value, str):
        raise ControlError("%s must be a string" % key)
    return value


def _checked_config(base, options):
    """base updated with options, each checked against the default's
    type; the caller's state is untouched when a setting is refused."""
    config = dict(base)
    for key, value in options.items():
        if key not in DEFAULT_CONFIG:
            raise ControlError("unknown setting %r" % key)
        expected = type(DEFAULT_CONFIG[key])
        if expected is int and not isinstance(value, bool):
            value = _integer(key, value)
        elif not isinstance(value, expected):
            raise ControlError("%s must be a %s" % (key, expected.__name__))
        config[key] = value
    if config["auth_fault_format"] not in ("json", "xml"):
        raise ControlError('auth_fault_format is "json" or "xml"')
    if not config["realm"]:
        raise ControlError("realm must not be empty")
    return config


def _integer(key, value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ControlError("%s must be an integer" % key) from None


def _fault_rule(rule):
    """Check a rule from POST /_sim/faults and fill in its defaults."""
    if not isinstance(rule, dict):
        raise ControlError("a fault rule is an object")
    unknown = set(rule) - {"method", "path", "match", "count", "skip",
                           "status", "kind", "delay_ms", "body",
                           "content_type", "process"}
    if unknown:
        raise ControlError("unknown fault rule keys: %s"
                           % ", ".join(sorted(unknown)))
    kind = rule.get("kind", "status")
    if kind not in FAULT_KINDS:
        raise ControlError("kind is one of %s" % ", ".join(FAULT_KINDS))
    status = _integer("status", rule.get("status", 500))
    if kind == "status" and not 400 <= status <= 599:
        raise ControlError("status must be 400-599")
    delay = rule.get("delay_ms", DEFAULT_TIMEOUT_MS if kind == "timeout"
                     else 0)
    return {
        "method": (rule.get("method") or "").upper() or None,
        "path": rule.get("path") or "/",
        "match": rule.get("match"),
        "count": _integer("count", rule.get("count", 1)),
        "skip": _integer("skip", rule.get("skip", 0)),
        "status": status,
        "kind": kind,
        "delay_ms": _integer("delay_ms", delay),
        "body": rule.get("body"),
        "content_type": rule.get("content_type"),
        "process": bool(rule.get("process", False)),
    }


def _rule_matches(rule, method, path, target):
    if rule["method"] and rule["method"] != method:
        return False
    if not path.startswith(rule["path"]):
        return False
    return rule["match"] is None or rule["match"] in target
