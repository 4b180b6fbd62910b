"""Start Phoenix for the e2e tests; run by the Python of Phoenix's own virtual environment.

    <phoenix-venv>/bin/python phoenix_launcher.py PARENT_PID

Two things ``phoenix serve`` does not do by itself:

* Bind everything to loopback. Its gRPC (OTLP) server listens on ``[::]:<port>`` whatever
  ``PHOENIX_HOST`` says (``phoenix/server/grpc_server.py`` hard-codes the address), so
  ``grpc.aio`` servers get their wildcard addresses rewritten to ``127.0.0.1`` before
  Phoenix is imported.
* Die with the test run. A watchdog thread exits the process (status 3) as soon as
  ``PARENT_PID`` is gone (the test process killed, say), and on Linux the kernel also sends
  SIGTERM when the parent dies (``PR_SET_PDEATHSIG``).

This file must import nothing from weave-agent: it runs in another environment.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

LOOPBACK = "127.0.0.1"
WILDCARDS = ("[::]", "0.0.0.0", "", "::", "[::0]")


def _loopback(address: str) -> str:
    host, sep, port = address.rpartition(":")
    if sep and host in WILDCARDS:
        return "%s:%s" % (LOOPBACK, port)
    return address


def bind_grpc_to_loopback() -> None:
    import grpc  # noqa: F401  (grpc.aio needs the package imported first)
    from grpc.aio import _server

    cls = _server.Server
    insecure, secure = cls.add_insecure_port, cls.add_secure_port

    def add_insecure_port(self, address):  # type: ignore[no-untyped-def]
        return insecure(self, _loopback(address))

    def add_secure_port(self, address, server_credentials):  # type: ignore[no-untyped-def]
        return secure(self, _loopback(address), server_credentials)

    cls.add_insecure_port = add_insecure_port  # type: ignore[method-assign]
    cls.add_secure_port = add_secure_port  # type: ignore[method-assign]


def _parent_alive(pid: int) -> bool:
    if os.getppid() != pid:  # reparented: the parent is gone
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def watch_parent(pid: int) -> None:
    try:  # Linux: SIGTERM from the kernel when the parent thread dies
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass

    def loop() -> None:
        while _parent_alive(pid):
            time.sleep(0.5)
        sys.stderr.write("phoenix_launcher: parent %d is gone: exiting\n" % pid)
        sys.stderr.flush()
        os._exit(3)

    threading.Thread(target=loop, name="parent-watchdog", daemon=True).start()
    if not _parent_alive(pid):  # died before the watchdog started
        os._exit(3)


def main() -> None:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: phoenix_launcher.py PARENT_PID")
    watch_parent(int(sys.argv[1]))
    bind_grpc_to_loopback()
    from phoenix.server.main import main as phoenix_main

    sys.argv = ["phoenix", "serve"]
    phoenix_main()


if __name__ == "__main__":
    main()
