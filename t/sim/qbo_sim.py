#!/usr/bin/env python3
"""A QuickBooks Online simulator (and one Stripe endpoint) for qbsync's
tests, demo and benchmarks: a real HTTP/1.1 server on loopback, standard
library only.

    python3 t/sim/qbo_sim.py --port 0 [--state-file F] [--verbose]

prints "PORT <n>" as its first line of stdout, then serves until killed.
See README.md beside this file for the endpoints and the control API.

This file is the HTTP glue: reading requests, injecting faults, writing
answers. What the answers say is decided in sim_service (the APIs) and
sim_control (/_sim/), over the state in sim_state.
"""

import argparse
import os
import socket
import struct
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# the sibling modules, without leaving __pycache__ in the work tree
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sim_control  # noqa: E402
import sim_service  # noqa: E402
import sim_state  # noqa: E402
import sim_throttle  # noqa: E402
import sim_wire  # noqa: E402


MAX_BODY = 16 * 1024 * 1024
LOGGED_BODY_LIMIT = 8192


class SimServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with room for the many connections a benchmark
    opens at once; its daemon threads never delay the exit."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address, state, verbose):
        super().__init__(address, SimHandler)
        self.state = state
        self.verbose = verbose

    def handle_error(self, request, client_address):
        """A client that goes away mid-request (a reset, a timeout, a test
        that stops the simulator) is no bug of the simulator's: only real
        exceptions are printed."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class SimHandler(BaseHTTPRequestHandler):

    protocol_version = "HTTP/1.1"          # keep-alive, as nginx wants
    server_version = "qbo-sim/1"
    disable_nagle_algorithm = True         # headers and body go apart
    timeout = 300                          # idle keep-alive connections

    def version_string(self):
        return self.server_version

    def setup(self):
        """Count the connection: a test shows keep-alive at work by many
        requests over few connections."""
        super().setup()
        self.epoch = None       # the reset in which it carried API requests
        state = self.server.state
        with state.lock:
            state.count("connections")

    def do_GET(self):
        self.serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    # --- one request -----------------------------------------------------

    def serve(self):
        state = self.server.state
        try:
            body = self.read_body()
        except ValueError as error:
            self.send_reply(sim_wire.json_reply(
                400, {"error": "bad request body: %s" % error}))
            self.close_connection = True
            return
        request = sim_wire.Request(self.command, self.path, self.headers,
                                   body)

        if request.path.startswith("/_sim/"):
            self.send_reply(self.decide(sim_control.handle, request))
            return

        ticket = self.admit(request)
        if ticket is None:
            return                              # throttled: answered 429
        try:
            self.answer(request)
        finally:
            if ticket is not sim_throttle.UNMETERED:
                with state.lock:
                    ticket.release()

    def admit(self, request):
        """Count this connection among those carrying API requests, and
        pass the request through QuickBooks' throttle: the ticket to give
        back once the answer is written, or None when the throttle
        refused it and the 429 has been sent (logged, never faulted)."""
        state = self.server.state
        with state.lock:
            if self.epoch != state.epoch:
                self.epoch = state.epoch
                state.count("api_connections")
            ticket = state.admit(lambda: sim_service.metered(request))
            if ticket is None:
                request.notes["throttled"] = True
                self.log_request_entry(request, 429)
        if ticket is None:
            self.send_reply(sim_wire.throttle_reply())
        return ticket

    def answer(self, request):
        """Answer an API request, or inject the fault a rule gives it."""
        state = self.server.state
        with state.lock:
            rule = state.take_fault(request.method, request.path,
                                    request.target)
        if rule is not None and rule["kind"] == "delay":
            time.sleep(rule["delay_ms"] / 1000)
            request.notes["fault"] = "delay"
            rule = None

        if rule is None:
            self.send_reply(self.decide(sim_service.route, request, log=True))
        elif rule["process"]:
            self.decide(sim_service.route, request)
            self.inject(rule, request)
        else:
            self.inject(rule, request)

    def decide(self, answer, request, log=False):
        """answer(state, request) under the state's lock, logged if asked;
        the state file is written before the client can see the change."""
        state = self.server.state
        with state.lock:
            try:
                reply = answer(state, request)
            except Exception:                       # a simulator bug
                sys.stderr.write("qbo-sim: internal error on %s %s\n"
                                 % (request.method, request.target))
                traceback.print_exc()
                reply = sim_wire.json_reply(500, {"error": "simulator bug"})
            if log:
                self.log_request_entry(request, reply.status)
        state.save()
        return reply

    def inject(self, rule, request):
        """Answer as the fault rule says instead of normally."""
        kind = rule["kind"]
        state = self.server.state
        with state.lock:
            request.notes["fault"] = kind
            self.log_request_entry(request, rule["status"] if kind == "status"
                                   else kind)
            auth_format = state.config["auth_fault_format"]
        if kind == "status":
            self.send_reply(sim_service.injected_reply(rule, request.path,
                                                       auth_format))
        elif kind == "timeout":
            time.sleep(rule["delay_ms"] / 1000)
            self.close_connection = True
        elif kind == "reset":
            self.reset_connection()

    def reset_connection(self):
        """Close with a TCP RST: SO_LINGER {on, 0} and close at once, not
        the FIN of socketserver's orderly shutdown."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()

    # --- reading and writing ---------------------------------------------

    def read_body(self):
        """The whole body: by Content-Length, or chunked (nginx sends
        chunks when request buffering is off)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.isdigit() or int(length) > MAX_BODY:
            raise ValueError("Content-Length %r" % length)
        return self.rfile.read(int(length))

    def read_chunked(self):
        chunks = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            size = int(size_line, 16)
            total += size
            if total > MAX_BODY:
                raise ValueError("chunked body too large")
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def send_reply(self, reply):
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("intuit_tid", sim_wire.intuit_tid())
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    # --- logging -----------------------------------------------------------

    def log_request_entry(self, request, status):
        """The /_sim/state request log (the caller holds the lock): what
        was asked and answered, never a token."""
        entry = {
            "method": request.method,
            "path": request.target,
            "requestid": request.param("requestid"),
            "status": status,
            "authorization": authorization_kind(request.header(
                "Authorization")),
            "time": sim_wire.qbo_time(),
        }
        traceparent = request.header("traceparent")
        if traceparent:
            entry["traceparent"] = traceparent
        if request.method in ("POST", "PUT", "PATCH") and request.body:
            entry["body"] = logged_body(request)
        if request.notes.get("replayed"):
            entry["replayed"] = True
        if request.notes.get("throttled"):
            entry["throttled"] = True
        if request.notes.get("fault"):
            entry["fault"] = request.notes["fault"]
        self.server.state.log_request(entry)

    def log_message(self, format, *args):
        if self.server.verbose:
            sys.stderr.write("qbo-sim: %s %s\n" % (self.address_string(),
                                                   format % args))
            sys.stderr.flush()


def authorization_kind(header):
    if not header:
        return "none"
    scheme = header.split(" ", 1)[0].lower()
    return scheme if scheme in ("bearer", "basic") else "other"


def logged_body(request):
    """A write's body for the log: JSON as JSON, the token form reduced to
    its grant type (it carries the refresh token), the rest as text."""
    if request.path == sim_service.TOKEN_PATH:
        return {"grant_type": sim_wire.parse_form(request.body)
                .get("grant_type")}
    try:
        return sim_wire.decode_json(request.body)
    except ValueError:
        return request.body[:LOGGED_BODY_LIMIT].decode("utf-8", "replace")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0,
                        help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--state-file",
                        help="load the company from F at start and save "
                        "it there after every change")
    parser.add_argument("--verbose", action="store_true",
                        help="log each request to stderr")
    args = parser.parse_args(argv)

    state = sim_state.SimState(args.state_file)
    server = SimServer((args.host, args.port), state, args.verbose)
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
