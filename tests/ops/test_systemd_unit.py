"""ops/conserje.service: a dedicated user, a clean stop within budget, and hardening."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from conserje.config import load_settings
from tests.ops.ops_files import UNIT

INSTALLED_AT = "/opt/conserje/bin/conserje"


def unit() -> dict[str, dict[str, list[str]]]:
    """The unit's settings by section and key; a key set twice keeps both values."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for line in map(str.strip, UNIT.read_text(encoding="utf-8").splitlines()):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith("#"):
            key, _, value = line.partition("=")
            sections[section][key].append(value)
    return sections


def service(key: str) -> str:
    (value,) = unit()["Service"][key]
    return value


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (optional: the unit is checked without it)")
    return found


@pytest.fixture
def checkable_unit(tmp_path) -> Path:
    """The unit with ExecStart at this checkout's ``conserje``, which systemd can look at."""
    here = Path(sys.executable).parent / "conserje"
    assert here.exists()
    text = UNIT.read_text(encoding="utf-8")
    assert INSTALLED_AT in text
    path = tmp_path / "conserje.service"
    path.write_text(text.replace(INSTALLED_AT, str(here)), encoding="utf-8")
    return path


def test_it_runs_conserje_serve_as_its_own_user_with_settings_from_a_file():
    assert service("ExecStart") == f"{INSTALLED_AT} serve"
    assert service("User") == service("Group") == "conserje"
    assert service("EnvironmentFile").startswith("/etc/conserje/")
    assert service("Restart") == "on-failure"


def test_systemd_waits_longer_than_the_server_s_own_shutdown_budget(tmp_path):
    env = {"OPENAI_API_KEY": "sk-test", "WHAPI_TOKEN": "t", "CONSERJE_DATA_DIR": str(tmp_path)}
    budget_seconds = load_settings(env).shutdown_timeout_ms / 1000
    assert service("KillSignal") == "SIGTERM"
    assert float(service("TimeoutStopSec")) > budget_seconds + 5  # + flushing the journal


def test_the_data_dir_is_the_only_writable_place():
    data_dir = "/var/lib/conserje"
    assert service("Environment") == f"CONSERJE_DATA_DIR={data_dir}"
    assert service("StateDirectory") == "conserje"
    assert service("ReadWritePaths") == data_dir
    assert service("ProtectSystem") == "strict"
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert service(key) == "yes", key
    assert service("CapabilityBoundingSet") == ""


def test_systemd_accepts_the_unit(checkable_unit):
    done = subprocess.run(
        [systemd_analyze(), "verify", str(checkable_unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Unknown or misplaced keys are only warned about: any output is a defect.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_systemd_rates_the_unit_s_exposure_ok(checkable_unit):
    done = subprocess.run(
        # --threshold counts tenths: fail above an exposure of 2.0 ("OK" is below 3.0).
        [systemd_analyze(), "security", "--offline=true", "--threshold=20", str(checkable_unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
