"""Shared helpers of the independent-client scripts: arguments, raw PTY I/O, result output.

Each script reads one emulated ESME with one independent DLMS client library and prints ONE JSON
document on stdout; the Rust test (tests/tests/python_peers.rs) asserts the values. Nothing
here interprets DLMS: that is the peer library's job.
"""

import argparse
import datetime
import json
import os
import select
import sys
import termios
import time
import traceback
import tty

LDN = "0.0.42.0.0.255"
CLOCK = "0.0.1.0.0.255"
DISCONNECT = "0.0.96.3.10.255"
LOAD_PROFILE = "1.0.99.1.0.255"


def quiet_structlog():
    """dlms-cosem logs with structlog to stdout: send it to stderr (debug with PEERS_DEBUG=1)."""
    import logging

    import structlog

    level = logging.DEBUG if os.environ.get("PEERS_DEBUG") else logging.WARNING
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transport", choices=["tcp", "hdlc"], required=True)
    parser.add_argument("--address", help="host:port of the TCP wrapper")
    parser.add_argument("--wport", type=int, help="server wPort (TCP)")
    parser.add_argument("--serial", help="PTY path (HDLC)")
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--logical", type=int, help="HDLC server logical address")
    parser.add_argument("--physical", type=int, help="HDLC server physical address")
    parser.add_argument("--client-sap", type=int, required=True)
    parser.add_argument("--password", required=True, help="LLS secret")
    parser.add_argument("--register", required=True, help="import energy register OBIS")
    parser.add_argument("--from", dest="range_from", required=True, help="ISO-8601 start with offset")
    parser.add_argument("--to", dest="range_to", required=True, help="ISO-8601 end with offset")
    parser.add_argument("--max-pdu", type=int, default=65535, help="client max receive PDU")
    parser.add_argument("--hdlc-max-info", type=int, help="proposed HDLC max info field")
    parser.add_argument("--hdlc-window", type=int, help="proposed HDLC receive window")
    return parser.parse_args()


def utc(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment):
    """ISO-8601 in UTC with a Z, from an aware datetime."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def obis_bytes(text):
    return bytes(int(part) for part in text.split("."))


def run(main):
    """Runs `main(args, result)`; prints the result, with `error` set if anything raised."""
    args = parse_args()
    result = {"transport": args.transport}
    try:
        main(args, result)
    except Exception as error:  # report, don't hide: the Rust test prints it on failure
        result["error"] = f"{type(error).__name__}: {error}"
        result["traceback"] = traceback.format_exc()
    print(json.dumps(result, indent=1, sort_keys=True))
    sys.stdout.flush()


class RawPty:
    """A PTY opened raw (no echo, no line discipline), with deadline-bounded reads."""

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.timeout = timeout
        self.fd = None

    def open(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd, termios.TCSANOW)
        termios.tcflush(self.fd, termios.TCIOFLUSH)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def write(self, data):
        view = memoryview(bytes(data))
        while view:
            select.select([], [self.fd], [], self.timeout)
            written = os.write(self.fd, view)
            view = view[written:]

    def read_some(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no reply on {self.path} within {self.timeout} s")
        ready, _, _ = select.select([self.fd], [], [], remaining)
        if not ready:
            raise TimeoutError(f"no reply on {self.path} within {self.timeout} s")
        return os.read(self.fd, 4096)
