"""Everything the simulator remembers, behind one lock: configuration,
OAuth tokens, the items, Stripe's products and prices, fault rules,
requestid answers, counters, the throttle's meters and the last
requests.

One lock for all of it keeps every request atomic (a refresh rotates the
token for exactly one caller, a create checks and claims a name in one
step) at a cost nobody notices: each operation holds it for microseconds,
and waiting (injected delays and timeouts) happens outside it.
"""

import collections
import copy
import math
import os
import random
import secrets
import tempfile
import threading
import time
from decimal import Decimal

import sim_items
import sim_throttle
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
    "throttle": sim_throttle.DEFAULTS,
}
DEFAULT_REFRESH_TOKEN = "rt-initial"
SECRET_SETTINGS = ("client_secret", "stripe_key")

COUNTERS = ("query", "create", "update", "read", "batch", "refresh",
            "refresh_failed", "stripe_product", "replayed", "unauthorized",
            "faults_injected", "throttled", "connections",
            "api_connections")
REQUEST_LOG_SIZE = 200
REPLAY_MEMORY = 100000

FAULT_KINDS = ("status", "timeout", "reset", "delay")
FAULT_ACTION_KEYS = ("status", "kind", "delay_ms", "body", "content_type",
                     "process")
FAULT_MATCH_KEYS = ("method", "path", "match", "count", "skip",
                    "probability")
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
        self.seed_faults(secrets.randbits(32))
        self.replays = collections.OrderedDict()
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.by_path = collections.Counter()
        self.faults_by_kind = collections.Counter()
        self.throttle = sim_throttle.Throttle()
        # connections carrying API requests are counted once per reset
        self.epoch = getattr(self, "epoch", 0) + 1
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

    def seed_faults(self, seed):
        """Restart the random source of probabilities and weighted kinds:
        the same seed and the same requests give the same faults."""
        self.fault_seed = checked_seed(seed)
        self.random = random.Random(seed)

    def take_fault(self, method, path, target):
        """What to inject into this request (the first rule that matches,
        has count left and wins its draw, its count consumed): a rule's
        action, or None when the request should be answered normally."""
        for rule in self.fault_rules:
            if rule["count"] is not None and rule["count"] <= 0:
                continue
            if not _rule_matches(rule, method, path, target):
                continue
            if rule["skip"] > 0:
                rule["skip"] -= 1
                return None
            if rule["probability"] is not None and \
                    self.random.random() >= rule["probability"]:
                continue
            if rule["count"] is not None:
                rule["count"] -= 1
            action = self._action(rule)
            self.counts["faults_injected"] += 1
            self.faults_by_kind[_kind_name(action)] += 1
            return action
        return None

    def _action(self, rule):
        """The rule's own action, or one of its kinds drawn by weight."""
        if rule["kinds"] is None:
            return {key: rule[key] for key in FAULT_ACTION_KEYS}
        kinds = rule["kinds"]
        chosen = self.random.choices(
            kinds, weights=[kind["weight"] for kind in kinds])[0]
        return {key: chosen[key] for key in FAULT_ACTION_KEYS}

    # --- throttle ----------------------------------------------------------

    def admit(self, metering):
        """A sim_throttle.Ticket for a request QuickBooks' throttle lets
        through (UNMETERED when it does not apply: throttling off, or not
        a company request), None when it is refused. metering() gives
        (realm, operations, is_batch) or None; it is called only while
        throttling is on, so that a run without it never reads a batch
        body twice."""
        settings = self.config["throttle"]
        if not settings["enabled"]:
            return sim_throttle.UNMETERED
        metered = metering()
        if metered is None:
            return sim_throttle.UNMETERED
        ticket = self.throttle.admit(settings, *metered)
        if ticket is None:
            self.counts["throttled"] += 1
        return ticket

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
        counts["faults_by_kind"] = dict(self.faults_by_kind)
        return {
            "items": [sim_items.complete(item)
                      for item in self.store.sorted_items()],
            "counts": counts,
            "requests": list(self.requests),
            "config": self.public_config(),
            "fault_rules": copy.deepcopy(self.fault_rules),
            "fault_seed": self.fault_seed,
            "stripe": {"products": sorted(self.products),
                       "prices": sorted(self.prices)},
            "throttle": self.throttle.view(self.config["throttle"]),
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

def checked_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, str)):
        raise ControlError("seed must be an integer or a string")
    return seed


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
        if key == "throttle":
            value = _throttle_settings(base["throttle"], value)
        elif expected is int and not isinstance(value, bool):
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


def _throttle_settings(base, value):
    """The throttle settings after a "throttle" option: an object changes
    the settings it names and turns throttling on unless it says
    "enabled": false; true and false only turn it on or off."""
    if isinstance(value, bool):
        return dict(base, enabled=value)
    if not isinstance(value, dict):
        raise ControlError("throttle must be an object or a boolean")
    unknown = set(value) - set(sim_throttle.DEFAULTS)
    if unknown:
        raise ControlError("unknown throttle settings: %s"
                           % ", ".join(sorted(unknown)))
    settings = dict(base, enabled=True)
    for key, setting in value.items():
        if key == "enabled":
            if not isinstance(setting, bool):
                raise ControlError("throttle.enabled must be a boolean")
        elif key == "time_scale":
            setting = _positive_number("throttle.time_scale", setting)
        else:
            setting = _positive_integer("throttle." + key, setting)
        settings[key] = setting
    return settings


def _positive_integer(key, value):
    """An integer above 0; as with the other integer settings a string of
    digits will do, but never a boolean or a fraction."""
    if isinstance(value, bool) or (
            isinstance(value, (float, Decimal)) and value != int(value)):
        raise ControlError("%s must be a positive integer" % key)
    number = _integer(key, value)
    if number < 1:
        raise ControlError("%s must be a positive integer" % key)
    return number


def _positive_number(key, value, maximum=None):
    """A finite number above 0 (and at most maximum): an int stays an
    int, anything else (JSON decimals arrive as Decimal) becomes a
    float."""
    if isinstance(value, bool):
        raise ControlError("%s must be a number" % key)
    if not isinstance(value, int):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ControlError("%s must be a number" % key) from None
    if not math.isfinite(value) or value <= 0 or \
            (maximum is not None and value > maximum):
        raise ControlError("%s must be above 0%s" % (
            key, "" if maximum is None else " and at most %s" % maximum))
    return value


def _fault_rule(rule):
    """Check a rule from POST /_sim/faults and fill in its defaults: what
    it matches, and either one action or weighted "kinds" of them."""
    if not isinstance(rule, dict):
        raise ControlError("a fault rule is an object")
    unknown = set(rule) - set(FAULT_MATCH_KEYS) - set(FAULT_ACTION_KEYS) \
        - {"kinds"}
    if unknown:
        raise ControlError("unknown fault rule keys: %s"
                           % ", ".join(sorted(unknown)))
    probability = rule.get("probability")
    if probability is not None:
        probability = _positive_number("probability", probability, 1)
    # a schedule (probability) runs until the rules change, unless counted
    count = rule.get("count", 1 if probability is None else None)
    checked = {
        "method": (rule.get("method") or "").upper() or None,
        "path": rule.get("path") or "/",
        "match": rule.get("match"),
        "count": None if count is None else _integer("count", count),
        "skip": _integer("skip", rule.get("skip", 0)),
        "probability": probability,
        "kinds": None,
    }
    if "kinds" not in rule:
        checked.update(_fault_action(rule))
        return checked
    mixed = set(rule) & set(FAULT_ACTION_KEYS)
    if mixed:
        raise ControlError("with kinds, %s go inside each kind"
                           % ", ".join(sorted(mixed)))
    kinds = rule["kinds"]
    if not isinstance(kinds, list) or not kinds:
        raise ControlError("kinds must be a non-empty list")
    checked["kinds"] = [_weighted_action(kind) for kind in kinds]
    return checked


def _weighted_action(kind):
    """One of a rule's kinds: an action with a weight (default 1)."""
    if not isinstance(kind, dict):
        raise ControlError("each of kinds is an object")
    unknown = set(kind) - set(FAULT_ACTION_KEYS) - {"weight"}
    if unknown:
        raise ControlError("unknown keys in kinds: %s"
                           % ", ".join(sorted(unknown)))
    action = {"weight": _positive_number("weight", kind.get("weight", 1))}
    action.update(_fault_action(kind))
    return action


def _fault_action(rule):
    """What a fault does: its kind, status, delay, body and process."""
    kind = rule.get("kind", "status")
    if kind not in FAULT_KINDS:
        raise ControlError("kind is one of %s" % ", ".join(FAULT_KINDS))
    status = _integer("status", rule.get("status", 500))
    if kind == "status" and not 400 <= status <= 599:
        raise ControlError("status must be 400-599")
    delay = rule.get("delay_ms", DEFAULT_TIMEOUT_MS if kind == "timeout"
                     else 0)
    return {
        "status": status,
        "kind": kind,
        "delay_ms": _integer("delay_ms", delay),
        "body": rule.get("body"),
        "content_type": rule.get("content_type"),
        "process": bool(rule.get("process", False)),
    }


def _kind_name(action):
    """The faults_by_kind key: the status for a status fault ("503"),
    else the kind."""
    if action["kind"] == "status":
        return str(action["status"])
    return action["kind"]


def _rule_matches(rule, method, path, target):
    if rule["method"] and rule["method"] != method:
        return False
    if not path.startswith(rule["path"]):
        return False
    return rule["match"] is None or rule["match"] in target
