"""`make run`: migrate, seed, then run the Stripe emulator, the worker and the site together
until Ctrl-C, SIGTERM or SIGHUP, any of which stops every process it started."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
EMULATOR_PORT = 12111  # the emulator's usual port; STRIPE_PORT overrides it
READY_SECONDS = 60.0  # a cold start on a busy laptop imports a lot
STOP_SECONDS = 5.0  # then SIGKILL
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Stop(Exception):
    """A signal asked `make run` to stop."""


class StartupError(Exception):
    """Something `make run` needs did not start; the message says what."""


def _paywall(*args: str) -> list[str]:
    return [str(BIN / "paywall"), *args]


def port_is_free(port: int) -> bool:
    """Whether a server could listen on HOST:port now (SO_REUSEADDR, as werkzeug's does)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _any_free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, a child asks the kernel for SIGTERM when `make run` dies, even by SIGKILL.

    prctl is looked up here, in the parent: the forked child only makes the call
    (https://man7.org/linux/man-pages/man2/PR_SET_PDEATHSIG.2const.html).
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent, sigterm = os.getpid(), int(signal.SIGTERM)

    def ask() -> None:
        prctl(PR_SET_PDEATHSIG, sigterm)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), sigterm)

    return ask


def _forward(stream: IO[str], to: IO[str], ready_text: str | None, ready: threading.Event) -> None:
    """Copy a child's output to ours, noting the line that says it is serving."""
    for line in stream:
        if ready_text and ready_text in line:
            ready.set()
        try:
            to.write(line)
            to.flush()
        except OSError:
            pass  # our terminal is gone; keep reading so the child never blocks on a full pipe


@dataclass
class Server:
    """A long-running child that prints a line once it holds its port."""

    name: str
    proc: subprocess.Popen[str]
    ready: threading.Event = field(default_factory=threading.Event)

    def wait_until_serving(self) -> None:
        """Until it says it serves (so it, not some other program, holds its port), or a
        StartupError when it exits first or stays silent."""
        deadline = time.monotonic() + READY_SECONDS
        while not self.ready.wait(0.1):
            if self.proc.poll() is not None:
                raise StartupError(
                    f"{self.name} exited with code {self.proc.returncode} (see above)"
                )
            if time.monotonic() > deadline:
                raise StartupError(f"{self.name} did not start within {READY_SECONDS:.0f} s")


class Children:
    """The processes `make run` started. Each leads its own process group: a stop signals all
    a child runs, and a Ctrl-C in the terminal reaches `make run`, not them: it stops them."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen[str]]] = []
        self._preexec = _die_with_parent()

    def _popen(self, name: str, args: list[str], **pipes: Any) -> subprocess.Popen[str]:
        # preexec_fn is unsafe when the callable takes locks another thread may hold; this one
        # only calls prctl.
        proc = subprocess.Popen(  # noqa: S603
            args,
            stdin=subprocess.DEVNULL,
            process_group=0,
            preexec_fn=self._preexec,
            text=True,
            errors="replace",
            **pipes,
        )
        self.running.append((name, proc))
        return proc

    def call(self, *args: str, quiet: bool = False) -> str:
        """Run `paywall ARGS` to the end; its output (when quiet) or a StartupError."""
        pipe = subprocess.PIPE if quiet else None
        proc = self._popen(f"paywall {args[0]}", _paywall(*args), stdout=pipe, stderr=pipe)
        out, err = proc.communicate()
        self.running.remove((f"paywall {args[0]}", proc))
        if proc.returncode:
            sys.stderr.write(err or "")
            raise StartupError(f"`paywall {' '.join(args)}` failed (exit code {proc.returncode})")
        return out or ""

    def serve(self, name: str, args: list[str], ready_text: str, on_stderr: bool) -> Server:
        """Start a server whose output is copied to ours; `ready` is set when it prints
        ready_text, the line it prints once it holds its port."""
        pipe = {"stderr" if on_stderr else "stdout": subprocess.PIPE}
        proc = self._popen(name, args, **pipe)
        stream = proc.stderr if on_stderr else proc.stdout
        assert stream is not None
        server = Server(name, proc)
        to = sys.stderr if on_stderr else sys.stdout
        threading.Thread(
            target=_forward, args=(stream, to, ready_text, server.ready), daemon=True, name=name
        ).start()
        return server

    def start(self, name: str, args: list[str]) -> None:
        self._popen(name, args)

    def watch(self) -> int:
        """Block until one of them ends; say which, and return its exit code."""
        while True:
            for name, proc in self.running:
                if proc.poll() is not None:
                    print(
                        f"make run: {name} stopped (exit code {proc.returncode})", file=sys.stderr
                    )
                    return proc.returncode or 1
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM every group, then SIGKILL what is left after STOP_SECONDS."""
        for sig in STOP_SIGNALS:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        for _, proc in self.running:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for _, proc in self.running:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        self.running.clear()


def _signal_group(proc: subprocess.Popen[str], sig: signal.Signals) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)


def _raise_stop(signum: int, _frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


def _port_setting(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    if not raw.isdecimal() or not 0 < int(raw) < 65536:
        raise StartupError(f"{name} must be a port number, not {raw!r}")
    return int(raw)


def _site_port() -> int:
    """PORT (5000), which must be free: the site's address is printed and mailed in links."""
    port = _port_setting("PORT", 5000)
    if not port_is_free(port):
        raise StartupError(
            f"port {port} on {HOST} is in use by another program "
            f"(choose another: make run PORT={port + 1})"
        )
    return port


def _emulator_port() -> int:
    """STRIPE_PORT (12111) when free; otherwise any free port, said aloud. Something else on
    the usual port (another checkout's emulator) must never stand in for ours."""
    preferred = _port_setting("STRIPE_PORT", EMULATOR_PORT)
    if port_is_free(preferred):
        return preferred
    port = _any_free_port()
    print(
        f"make run: port {preferred} is in use by another program; "
        f"the Stripe emulator will listen on {port}",
        flush=True,
    )
    return port


def _start_emulator(children: Children, base: str) -> Server:
    """Start our emulator and point everything started after it at it."""
    port = _emulator_port()
    api_base = f"http://{HOST}:{port}"
    # The site, the worker and stripe-sync inherit this: all talk to the emulator we started.
    os.environ["PAYWALL_STRIPE_API_BASE"] = api_base
    Path("instance").mkdir(exist_ok=True)
    command = _paywall(
        "stripe-emulator", "--port", str(port), "--state", "instance/devstripe.json",
        "--webhook-url", f"{base}/webhooks/stripe",
    )  # fmt: skip
    return children.serve("the Stripe emulator", command, f"Stripe emulator on {api_base}", False)


def _run(children: Children, port: int) -> int:
    base = os.environ["PAYWALL_BASE_URL"]
    stripe_line = "Stripe:      real Stripe (PAYWALL_STRIPE_SECRET_KEY is set)\n"
    emulator = None
    if not os.environ.get("PAYWALL_STRIPE_SECRET_KEY"):
        # No key: the offline emulator stands in, keeping its state across restarts. It starts
        # while the database is migrated and seeded.
        emulator = _start_emulator(children, base)
    children.call("db", "upgrade")
    seeded = children.call("seed-demo", quiet=True)
    if emulator:
        emulator.wait_until_serving()
        # Our products and prices, found by lookup_key: safe on every start.
        children.call("stripe-sync", quiet=True)
        stripe_line = (
            f"Stripe:      offline emulator on {os.environ['PAYWALL_STRIPE_API_BASE']} "
            "(test card 4242 4242 4242 4242, any future expiry, any CVC)\n"
        )
    children.start("the worker", _paywall("worker"))
    server = _paywall("run", "--host", HOST, "--port", str(port), "--no-reload")
    children.serve(
        "the web server", server, f"Running on http://{HOST}:{port}", True
    ).wait_until_serving()
    print(
        f"\n{seeded}\n"
        f"Site:        {base}/\n"
        f"Sign in:     {base}/signin\n"
        f"Mail outbox: {base}/dev/mail   (no MAIL_URL set: mail is kept, not sent)\n"
        f"Admin:       {base}/admin/\n"
        f"{stripe_line}"
        "Ctrl-C stops everything.\n",
        flush=True,
    )
    return children.watch()


def main() -> int:
    """`make run`; exits non-zero with one line on stderr when something cannot start."""
    os.environ.setdefault("PAYWALL_CONFIG", "development")
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_stop)
    children = Children()
    try:
        port = _site_port()  # before anything starts: nothing to undo when it is taken
        os.environ.setdefault("PAYWALL_BASE_URL", f"http://{HOST}:{port}")
        return _run(children, port)
    except Stop:
        return 0
    except StartupError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    finally:
        children.stop()


if __name__ == "__main__":
    sys.exit(main())
