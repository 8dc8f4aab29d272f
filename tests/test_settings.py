from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from dashboard.runtime.env import env_bool, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DEBUG": "0",
    "EMBEDDED": "0",  # the launcher sets 1 for the suite; a deployment leaves it unset
    "SECRET_KEY": "fake-production-secret-key-for-tests-only-" + "x" * 30,
    "FERNET_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "dashboard.example.com",
    "DATABASE_URL": "sqlite:///" + str(ROOT / "var" / "check-deploy.sqlite3"),
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("raw", ["maybe", "2", "yes please"])
def test_env_bool_refuses_a_value_that_is_not_a_boolean(raw):
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        env_bool("DEBUG", False, environ={"DEBUG": raw})


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("true", True), ("Off", False), ("", False)])
def test_env_bool_reads_the_usual_spellings(raw, expected):
    assert env_bool("DEBUG", not expected, environ={"DEBUG": raw}) is expected


def test_env_int_refuses_text_and_values_out_of_range():
    with pytest.raises(ImproperlyConfigured, match="REFRESH_SECONDS must be a whole number"):
        env_int("REFRESH_SECONDS", 60, environ={"REFRESH_SECONDS": "sixty"})
    with pytest.raises(ImproperlyConfigured, match="at least 10"):
        env_int("REFRESH_SECONDS", 60, minimum=10, environ={"REFRESH_SECONDS": "5"})
    assert env_int("REFRESH_SECONDS", 60, environ={}) == 60


@pytest.mark.parametrize(
    ("name", "value", "bound"),
    [
        ("ROTATION_POLICY_DAYS", "3000000", "at most 3650"),
        ("REFRESH_INTERVAL_SECONDS", "10" * 6, "at most 86400"),
    ],
)
def test_a_number_setting_past_its_range_stops_start_up_with_a_message(name, value, bound):
    # ROTATION_POLICY_DAYS=3000000 made every page answer 500 (a date overflow), and a refresh
    # interval of 10**12 the overview: refused where it enters, naming the variable.
    result = run_manage("check", env={**PRODUCTION_ENV, name: value})
    assert result.returncode != 0
    assert f"{name} must be {bound}" in result.stderr


def test_env_list_and_str_strip_whitespace_and_drop_empty_items():
    assert env_list("HOSTS", environ={"HOSTS": " a.example , ,b.example "}) == ["a.example", "b.example"]
    assert env_str("NAME", environ={"NAME": "  x  "}) == "x"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FERNET_KEYS", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_each_required_secret(missing):
    env = {**PRODUCTION_ENV, missing: ""}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert f"{missing} is required outside the embedded mode" in result.stderr


def test_a_malformed_setting_stops_start_up_naming_the_variable():
    result = run_manage("check", env={**PRODUCTION_ENV, "SECURE_HSTS_SECONDS": "a year"})
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS must be a whole number" in result.stderr


def test_a_deployment_without_embedded_set_also_requires_the_secrets():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k not in ("EMBEDDED", "SECRET_KEY")}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is required outside the embedded mode (DATABASE_URL is set)" in result.stderr


def show_settings(*names: str, env: dict[str, str]) -> list[str]:
    """The values of these settings in a fresh process with `env` on top of the suite's own."""
    code = "from django.conf import settings; " + "; ".join(f"print(settings.{n})" for n in names)
    result = run_manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_debug_is_off_when_unset_and_a_developer_switches_it_on():
    assert show_settings("DEBUG", env={"EMBEDDED": "1"}) == ["False"]
    assert show_settings("DEBUG", env={"EMBEDDED": "1", "DEBUG": "1"}) == ["True"]


def test_the_embedded_mode_serves_static_files_without_collectstatic_and_without_https():
    shown = show_settings(
        "WHITENOISE_USE_FINDERS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", env={"EMBEDDED": "1"}
    )
    assert shown == ["True", "False", "False"]


def test_production_settings_pass_the_deploy_check_with_no_warning():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_every_scheduled_task_is_found_by_autodiscovery_alone():
    """The beat schedule is one literal in settings; each of its tasks lives in its app's tasks.py
    and is registered by autodiscovery, with no CELERY_IMPORTS or CELERY_INCLUDE."""
    from django.conf import settings as django_settings

    from dashboard.celery import app

    assert not getattr(django_settings, "CELERY_IMPORTS", None)
    assert not getattr(django_settings, "CELERY_INCLUDE", None)
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= set(app.tasks)
    assert {name.split(".")[0] for name in scheduled} == {
        "dashboard",  # warm-pnl: the overview's PnL worked out ahead
        "snapshots",
        "accounts",
        "alerts",
        "reports",
        "ledger",
    }
