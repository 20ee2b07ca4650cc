"""`make run` for real, in a temporary directory: it never mistakes another program's port for
its own, and every signal a terminal or a process manager sends stops everything it started."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from paywall import devserver

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc to find what make run started"
)

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
START_SECONDS = 180.0  # migrate, seed and three servers, on a CI machine running other tests
STOP_SECONDS = 20.0
Proc = tuple[int, int]  # (pid, start time): a pid alone may be reused


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def taken(port: int) -> Iterator[None]:
    """Another program on the port: it accepts connections and never answers. (When something
    already holds the port, it stays taken all the same.)"""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
    try:
        holder.bind((HOST, port))
        holder.listen()
    except OSError:
        assert not devserver.port_is_free(port)
    try:
        yield
    finally:
        holder.close()


def stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) from /proc/<pid>/stat, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and ")"
    return int(fields[1]), fields[0], int(fields[19])


def descendants(root: int) -> set[Proc]:
    children: dict[int, list[Proc]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := stat(int(entry.name))):
            children.setdefault(found[0], []).append((int(entry.name), found[2]))
    found_all: set[Proc] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found_all.add(child)
            todo.append(child[0])
    return found_all


def alive(proc: Proc) -> bool:
    found = stat(proc[0])
    return found is not None and found[2] == proc[1] and found[1] != "Z"


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except (FileNotFoundError, ProcessLookupError):
        return []  # it ended meanwhile


def environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


@dataclass
class Run:
    """`make run` (or the devserver alone) started by a test, and every process seen under it."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    seen: set[Proc] = field(default_factory=set)

    def output(self) -> str:
        return "".join(
            (self.workdir / name).read_text(errors="replace") for name in ("out.txt", "err.txt")
        )

    def wait_until_the_site_answers(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            self.seen |= descendants(self.process.pid)
            if self.process.poll() is not None:
                pytest.fail(f"make run exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/healthz", timeout=5):
                    self.seen |= descendants(self.process.pid)
                    return
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"the site did not answer within {START_SECONDS:.0f} s:\n{self.output()}")

    def child(self, words: str) -> int:
        """The live process whose command line holds `words` (`paywall worker`...)."""
        (pid,) = [
            proc[0] for proc in self.seen if alive(proc) and words in " ".join(cmdline(proc[0]))
        ]
        return pid

    def stops_with_everything_it_started(self, ports: list[int], exit_code: int = 0) -> None:
        assert self.process.wait(timeout=STOP_SECONDS) == exit_code, self.output()
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline and any(map(alive, self.seen)):
            time.sleep(0.1)
        left = [" ".join(cmdline(pid)) for pid, start in self.seen if alive((pid, start))]
        assert not left, f"still running after make run stopped: {left}"
        assert [port for port in ports if not devserver.port_is_free(port)] == []

    def kill_everything(self) -> None:
        """Clean-up when the test failed: no process of ours outlives it, whatever happened."""
        self.seen |= descendants(self.process.pid) if self.process.poll() is None else set()
        for proc in self.seen:
            if alive(proc):
                with suppress(ProcessLookupError):  # it ended meanwhile
                    os.kill(proc[0], signal.SIGKILL)
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_SECONDS)


def devserver_env(workdir: Path, port: int, **settings: str) -> dict[str, str]:
    """The developer's environment without their paywall settings, and a database of its own."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PAYWALL_") and name not in ("PORT", "STRIPE_PORT")
    }
    env.update(
        PORT=str(port),
        PAYWALL_DATABASE_URL=f"sqlite:///{workdir / 'paywall.db'}",
        # Given, so nothing is generated into the project's own instance/ folder.
        PAYWALL_SECRET_KEY="make-run-test-secret-0123456789abcdef",
        **settings,
    )
    return env


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    """Start `python -m paywall.devserver` (or another command) in tmp_path, in its own
    session; whatever the test does, nothing it started is left running."""
    runs: list[Run] = []

    def starter(command: list[str] | None = None, port: int = 0, **settings: str) -> Run:
        port = port or free_port()
        with (tmp_path / "out.txt").open("wb") as out, (tmp_path / "err.txt").open("wb") as err:
            process = subprocess.Popen(
                command or [sys.executable, "-m", "paywall.devserver"],
                cwd=tmp_path,
                env=devserver_env(tmp_path, port, **settings),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        runs.append(Run(process, port, tmp_path))
        return runs[-1]

    try:
        yield starter
    finally:
        for run in runs:
            run.kill_everything()


def started_servers(run: Run) -> dict[str, int]:
    """The emulator, the worker and the web server, by their command."""
    commands = ("paywall stripe-emulator", "paywall worker", "paywall run --host")
    return {command: run.child(command) for command in commands}


STOP_SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=[sig.name for sig in STOP_SIGNALS])
def test_each_stop_signal_stops_everything_make_run_started(start, sig):
    stripe_port = free_port()
    run = start(STRIPE_PORT=str(stripe_port))
    run.wait_until_the_site_answers()
    assert len(started_servers(run)) == 3

    os.kill(run.process.pid, sig)

    run.stops_with_everything_it_started([run.port, stripe_port])


def test_a_taken_emulator_port_is_left_alone_and_everything_uses_the_emulator_started(start):
    with taken(12111):
        run = start()
        run.wait_until_the_site_answers()
        servers = started_servers(run)
        args = cmdline(servers["paywall stripe-emulator"])
        port = int(args[args.index("--port") + 1])
        assert port != 12111
        api_base = f"http://{HOST}:{port}"
        assert f"Stripe:      offline emulator on {api_base} " in run.output()
        assert args[args.index("--webhook-url") + 1] == f"http://{HOST}:{run.port}/webhooks/stripe"
        for name in ("paywall worker", "paywall run --host"):
            assert environ(servers[name])["PAYWALL_STRIPE_API_BASE"] == api_base, name
        # stripe-sync loaded our plans into that emulator.
        request = urllib.request.Request(f"{api_base}/v1/prices?lookup_keys[]=pro_annual")
        request.add_header("Authorization", "Bearer sk_test_make_run")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert [price["lookup_key"] for price in json.load(answer)["data"]] == ["pro_annual"]

        os.kill(run.process.pid, signal.SIGTERM)
        run.stops_with_everything_it_started([run.port, port])


def test_a_taken_site_port_is_one_clear_line_and_nothing_starts(start, tmp_path):
    port = free_port()
    with taken(port):
        run = start(port=port, STRIPE_PORT=str(free_port()))
        assert run.process.wait(timeout=60) == 1
    assert (tmp_path / "err.txt").read_text().splitlines() == [
        f"make run: port {port} on {HOST} is in use by another program "
        f"(choose another: make run PORT={port + 1})"
    ]
    assert not (tmp_path / "paywall.db").exists(), "it migrated before checking its port"


@pytest.mark.skipif(not shutil.which("make"), reason="no make")
def test_sigterm_to_make_run_reaches_the_devserver_and_stops_everything(start, tmp_path):
    """make passes SIGTERM to its child; the recipe execs the devserver, so that child is it."""
    for name in ("Makefile", "pyproject.toml"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    stripe_port = free_port()
    # -o: the install stamp counts as up to date: this test runs make run, not pip.
    run = start(["make", "--no-print-directory", "-o", ".venv/.install-stamp", "run"],
                STRIPE_PORT=str(stripe_port))  # fmt: skip
    run.wait_until_the_site_answers()
    assert len(started_servers(run)) == 3

    os.kill(run.process.pid, signal.SIGTERM)

    run.stops_with_everything_it_started([run.port, stripe_port], exit_code=-signal.SIGTERM)
