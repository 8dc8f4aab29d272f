"""`make demo` end to end: it serves the login page, the worker answers, and stopping it leaves
no process behind (Ctrl-C, and a launcher killed outright)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 120
# What stopping the demo may take at most: the longest grace (10 s) and the kill wait (5 s) of
# launcher.stop, then Redis (5 s and 5 s), with room for a loaded machine's slow exits.
STOP_BOUND = 40


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def demo(tmp_path):
    web_port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        VAR_DIR=str(tmp_path / "var"),
        DEMO_PORT=str(web_port),
        DEMO_SIMULATOR_PORT=str(sim_port),
        DEMO_WORKER_CONCURRENCY="1",
    )
    log = (tmp_path / "demo.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard.runtime.launcher", "demo"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        yield process, env, web_port, tmp_path / "demo.log"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def wait_until_running(process, web_port: int, log_path: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = log_path.read_text()
        assert process.poll() is None, f"the demo exited early:\n{text}"
        if "Ctrl-C stops everything" in text:
            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/login/", timeout=10) as page:
                return page.read().decode()
        time.sleep(0.5)
    pytest.fail(f"the demo did not start within {START_TIMEOUT} s:\n{log_path.read_text()}")


def descendants(process) -> list[psutil.Process]:
    return psutil.Process(process.pid).children(recursive=True)


def assert_all_gone(processes: list[psutil.Process], socket_path: Path) -> None:
    _gone, alive = psutil.wait_procs(processes, timeout=20)
    assert not alive, f"left behind: {[(p.pid, p.name()) for p in alive]}"
    assert not socket_path.exists()


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_demo_serves_the_login_page_and_the_worker_answers_and_ctrl_c_stops_everything(demo):
    process, env, web_port, log_path = demo
    page = wait_until_running(process, web_port, log_path)
    assert "Sign in" in page
    # DEBUG is off in the demo: the product's own 404 page (no URL map), static files still served.
    status, missing = fetch(f"http://127.0.0.1:{web_port}/no-such-page/")
    assert status == 404 and "Page not found" in missing
    assert "URLconf" not in missing and "admin/" not in missing
    status, css = fetch(f"http://127.0.0.1:{web_port}/static/dashboard/app.css")
    assert status == 200 and ".topbar" in css
    log = log_path.read_text()
    assert "user name: demo" in log and "password:" in log
    ping = subprocess.run(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "dashboard",
            "inspect",
            "ping",
            "--timeout",
            "10",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "pong" in ping.stdout, ping.stdout + ping.stderr
    children = descendants(process)
    assert any("redis-server" in p.name() for p in children)

    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    # Bounded by the launcher (each child's grace, then SIGKILL; Redis last); the timeout here
    # only keeps a broken launcher from hanging the suite.
    assert process.wait(timeout=STOP_BOUND + 30) == 0
    took = time.monotonic() - started
    print(f"the demo stopped {took:.1f} s after Ctrl-C")
    assert took < STOP_BOUND, log_path.read_text()
    assert port_is_closed(web_port)
    assert "[demo] stopped in" in log_path.read_text()
    assert_all_gone(children, Path(env["VAR_DIR"]) / "redis.sock")


def test_a_child_that_ignores_sigterm_is_killed_after_its_grace_and_the_launcher_exits(tmp_path):
    """SIGTERM to the launcher: its child, which ignores SIGTERM (a worker busy in a task), gets
    its grace period and is then killed; the launcher exits 130."""
    from dashboard.runtime.launcher import KILL_WAIT_SECONDS, STOP_GRACE_SECONDS

    ready = tmp_path / "ready"
    stubborn = (
        "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"pathlib.Path({str(ready)!r}).touch(); time.sleep(3600)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    env["VAR_DIR"] = str(tmp_path / "var")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "dashboard.runtime.launcher", "run", "--", sys.executable, "-c", stubborn],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.exists():  # the child has set its handler
            assert launcher.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        children = descendants(launcher)
        started = time.monotonic()
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=STOP_GRACE_SECONDS + KILL_WAIT_SECONDS + 30) == 130
        took = time.monotonic() - started
        _gone, alive = psutil.wait_procs(children, timeout=KILL_WAIT_SECONDS)
        assert not alive, f"left behind: {[(p.pid, p.name()) for p in alive]}"
        assert STOP_GRACE_SECONDS <= took < STOP_GRACE_SECONDS + KILL_WAIT_SECONDS + 5, took
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()


def test_a_killed_demo_launcher_takes_every_process_with_it(demo):
    process, _env, web_port, log_path = demo
    wait_until_running(process, web_port, log_path)
    children = descendants(process)
    assert len(children) >= 5  # redis, simulator, web, worker, beat (and their own children)

    process.kill()
    process.wait()
    _gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"left behind: {[(p.pid, p.name()) for p in alive]}"
