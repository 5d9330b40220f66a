"""QuickBooks' throttling, per realm, as Intuit documents it: at most 500
requests in any minute, 10 in any second, 10 being processed at once, and
40 batch requests in any minute, each operation of a batch counting
against the 500. Off unless configured (the "throttle" setting), so that
a test sees a limit only when it asks for one.

The windows slide: each realm keeps a log of when it accepted what, so
"any minute" means any 60 s, not the minute on the clock; a module that
bursts across a bucket boundary is caught as QuickBooks would catch it. A
refused request is not logged, so it never uses up a later request's
room. time_scale shrinks the windows (60 makes a minute last a second) so
that tests of the minute limit stay short.

Everything here runs under the state's lock; the handler asks admit()
when a request's headers and body are read and gives the ticket back once
its answer is written.
"""

import collections
import time


DEFAULTS = {
    "enabled": False,
    "per_minute": 500,
    "per_second": 10,
    "concurrent": 10,
    "batch_per_minute": 40,
    "time_scale": 1,
}
LIMITS = ("concurrent", "per_second", "batch_per_minute", "per_minute")


class SlidingLog:
    """What was accepted in the last `span` seconds, as (time, weight),
    with its total, and the largest total any window has held."""

    def __init__(self):
        self.entries = collections.deque()
        self.total = 0
        self.peak = 0

    def total_at(self, now, span):
        """The total of the window (now - span, now]."""
        while self.entries and self.entries[0][0] <= now - span:
            self.total -= self.entries.popleft()[1]
        return self.total

    def add(self, now, span, weight):
        """Log an acceptance; the window ending now is the only one whose
        total grows, so the peak is the largest of any window."""
        self.total_at(now, span)
        self.entries.append((now, weight))
        self.total += weight
        self.peak = max(self.peak, self.total)


class RealmMeter:
    """One realm's windows, its requests in flight and its counters."""

    def __init__(self):
        self.minute = SlidingLog()      # operations: a batch counts each
        self.second = SlidingLog()      # requests
        self.batches = SlidingLog()     # batch requests
        self.in_flight = 0
        self.max_in_flight = 0
        self.accepted = 0
        self.throttled = 0
        self.throttled_by = dict.fromkeys(LIMITS, 0)

    def refusal(self, settings, now, operations, is_batch):
        """The first limit this request would cross, or None."""
        minute = 60 / settings["time_scale"]
        second = 1 / settings["time_scale"]
        if self.in_flight >= settings["concurrent"]:
            return "concurrent"
        if self.second.total_at(now, second) + 1 > settings["per_second"]:
            return "per_second"
        if is_batch and self.batches.total_at(now, minute) + 1 > \
                settings["batch_per_minute"]:
            return "batch_per_minute"
        if self.minute.total_at(now, minute) + operations > \
                settings["per_minute"]:
            return "per_minute"
        return None

    def accept(self, settings, now, operations, is_batch):
        minute = 60 / settings["time_scale"]
        self.minute.add(now, minute, operations)
        self.second.add(now, 1 / settings["time_scale"], 1)
        if is_batch:
            self.batches.add(now, minute, 1)
        self.accepted += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def view(self):
        return {
            "accepted": self.accepted,
            "throttled": self.throttled,
            "throttled_by": dict(self.throttled_by),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "max_in_any_minute": self.minute.peak,
            "max_in_any_second": self.second.peak,
            "max_batches_in_any_minute": self.batches.peak,
        }


class Ticket:
    """An accepted request's place among its realm's requests in flight,
    given back (under the state's lock) once its answer is written. It
    holds its meter, not the realm's name: after a reset it frees a place
    in the meter it took it from, never in the new one."""

    __slots__ = ("meter",)

    def __init__(self, meter):
        self.meter = meter

    def release(self):
        if self.meter is not None:
            self.meter.in_flight -= 1
            self.meter = None


UNMETERED = Ticket(None)        # for requests the throttle does not see


class Throttle:
    """The meters of every realm seen since the last reset."""

    def __init__(self):
        self.realms = {}

    def admit(self, settings, realm, operations=1, is_batch=False,
              now=None):
        """A Ticket when the request may go on, None when it is refused
        (then it is counted as throttled and nowhere else)."""
        now = time.monotonic() if now is None else now
        meter = self.realms.setdefault(realm, RealmMeter())
        refusal = meter.refusal(settings, now, operations, is_batch)
        if refusal is not None:
            meter.throttled += 1
            meter.throttled_by[refusal] += 1
            return None
        meter.accept(settings, now, operations, is_batch)
        return Ticket(meter)

    def view(self, settings):
        """GET /_sim/state's "throttle": the settings, every realm's
        figures, and over all realms the sums of the counts and the
        largest of the maxima."""
        realms = {realm: meter.view() for realm, meter
                  in sorted(self.realms.items())}
        total = RealmMeter().view()
        for figures in realms.values():
            for key in ("accepted", "throttled", "in_flight"):
                total[key] += figures[key]
            for limit in LIMITS:
                total["throttled_by"][limit] += figures["throttled_by"][limit]
            for key in ("max_in_flight", "max_in_any_minute",
                        "max_in_any_second", "max_batches_in_any_minute"):
                total[key] = max(total[key], figures[key])
        return dict({"config": dict(settings)}, **total, by_realm=realms)
