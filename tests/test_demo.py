"""`make demo` end to end: it serves the login page, the worker answers, and stopping it leaves
no process behind (Ctrl-C, and a launcher killed outright)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 120


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


def test_the_demo_serves_the_login_page_and_the_worker_answers_and_ctrl_c_stops_everything(demo):
    process, env, web_port, log_path = demo
    page = wait_until_running(process, web_port, log_path)
    assert "Sign in" in page
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

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert_all_gone(children, Path(env["VAR_DIR"]) / "redis.sock")


def test_a_killed_demo_launcher_takes_every_process_with_it(demo):
    process, _env, web_port, log_path = demo
    wait_until_running(process, web_port, log_path)
    children = descendants(process)
    assert len(children) >= 5  # redis, simulator, web, worker, beat (and their own children)

    process.kill()
    process.wait()
    _gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"left behind: {[(p.pid, p.name()) for p in alive]}"
