"""Settings from the environment: documented defaults, and every problem reported at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conserje.config import DEFAULT_INSTRUCTIONS, load_settings
from conserje.errors import ConfigError

# Every variable load_settings reads, so the CLI test starts from a clean slate.
SETTING_NAMES = (
    "HOST",
    "PORT",
    "CONSERJE_DATA_DIR",
    "ENVIRONMENT",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "OPENAI_INSTRUCTIONS",
    "OPENAI_INSTRUCTIONS_FILE",
    "OPENAI_BACKGROUND",
    "OPENAI_RUN_TIMEOUT_MS",
    "OPENAI_REQUEST_TIMEOUT_MS",
    "WHAPI_TOKEN",
    "WHAPI_API_URL",
    "WHAPI_TIMEOUT_MS",
    "WEBHOOK_TOKEN",
    "ADMIN_TOKEN",
    "CONSERJE_TIMEZONE",
    "BUFFER_WINDOW_MS",
    "BUFFER_MAX_WAIT_MS",
    "BUFFER_MAX_MESSAGES",
    "SHUTDOWN_TIMEOUT_MS",
    "JOURNAL_FSYNC",
    "WEBHOOK_MAX_BYTES",
    "LOG_LEVEL",
    "HTTP_CONNECTION_LIMIT",
    "HTTP_READ_TIMEOUT_MS",
    "DASHBOARD_STREAM_MS",
)


@pytest.fixture
def env(tmp_path):
    return {
        "OPENAI_API_KEY": "sk-test-0123456789abcdef",
        "WHAPI_TOKEN": "whapi-token-for-tests",
        "CONSERJE_DATA_DIR": str(tmp_path / "data"),
    }


def problems_of(env) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert caught.value.problems, "a ConfigError must list its problems"
    return caught.value.problems


def test_minimal_env_gives_the_documented_defaults(env, tmp_path):
    settings = load_settings(env)

    assert settings.port == 8080
    assert settings.host == "0.0.0.0"
    assert settings.openai_model == "gpt-5.4-mini"
    assert settings.openai_background is True
    assert settings.buffer_window_ms == 5000
    assert settings.buffer_max_wait_ms == 20000
    assert settings.shutdown_timeout_ms == 5000
    assert settings.journal_fsync is True
    assert settings.environment == "development"
    assert settings.production is False
    assert settings.timezone == "UTC"
    assert settings.whapi_api_url == "https://gate.whapi.cloud"
    assert settings.openai_base_url is None
    assert settings.webhook_token is None
    assert settings.admin_token is None
    assert settings.dashboard_stream_ms == 30_000
    assert settings.instructions == DEFAULT_INSTRUCTIONS
    assert settings.openai_api_key == "sk-test-0123456789abcdef"
    assert settings.whapi_token == "whapi-token-for-tests"
    assert settings.data_dir == tmp_path / "data"
    assert settings.data_dir.is_dir()
    assert settings.journal_dir == tmp_path / "data" / "journal"


def test_media_defaults_use_models_alive_on_release_and_voice_replies_are_opt_in(env, tmp_path):
    settings = load_settings(env)

    assert settings.openai_transcribe_model == "gpt-transcribe"
    assert settings.openai_tts_model == "gpt-4o-mini-tts"
    assert settings.openai_tts_voice == "marin"
    assert settings.voice_replies is False
    assert settings.media_timeout_ms == 30_000
    assert settings.media_retention_days == 30
    assert settings.openai_file_input is True
    assert settings.media_dir == tmp_path / "data" / "media"
    assert settings.audio_dir == tmp_path / "data" / "audio"


def test_valid_overrides_are_read(env):
    settings = load_settings(
        {
            **env,
            "PORT": "9091",
            "OPENAI_BACKGROUND": "false",
            "JOURNAL_FSYNC": "off",
            "CONSERJE_TIMEZONE": "Europe/Madrid",
            "OPENAI_BASE_URL": "http://127.0.0.1:9999/v1",
            "BUFFER_WINDOW_MS": "0",
        }
    )

    assert settings.port == 9091
    assert settings.openai_background is False
    assert settings.journal_fsync is False
    assert settings.timezone == "Europe/Madrid"
    assert settings.openai_base_url == "http://127.0.0.1:9999/v1"
    assert settings.buffer_window_ms == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("PORT", "0"),
        ("OPENAI_BACKGROUND", "maybe"),
        ("JOURNAL_FSYNC", "sometimes"),
        ("CONSERJE_TIMEZONE", "Mars/Olympus"),
        ("OPENAI_BASE_URL", "not-a-url"),
        ("OPENAI_BASE_URL", "ftp://files.example.org/v1"),
        ("BUFFER_WINDOW_MS", "-1"),
        ("LOG_LEVEL", "CHATTY"),
        ("MEDIA_TIMEOUT_MS", "0"),
        ("MEDIA_RETENTION_DAYS", "0"),
        ("MEDIA_IMAGE_MAX_BYTES", "big"),
        ("VOICE_REPLIES", "sometimes"),
        ("HTTP_CONNECTION_LIMIT", "5"),
        ("HTTP_READ_TIMEOUT_MS", "500"),
        ("DASHBOARD_STREAM_MS", "500"),
    ],
)
def test_each_bad_value_gives_one_problem_naming_the_variable(env, name, value):
    problems = problems_of({**env, name: value})

    assert len(problems) == 1
    assert name in problems[0]
    assert value in problems[0]
    assert "\n" not in problems[0]


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "WHAPI_TOKEN"])
def test_missing_required_key_is_named(env, name):
    del env[name]

    problems = problems_of(env)

    assert len(problems) == 1
    assert name in problems[0]
    assert "missing" in problems[0]


def test_blank_required_key_counts_as_missing(env):
    problems = problems_of({**env, "WHAPI_TOKEN": "   "})

    assert len(problems) == 1
    assert "WHAPI_TOKEN" in problems[0]


def test_all_problems_are_reported_at_once(env):
    bad = {
        "CONSERJE_DATA_DIR": env["CONSERJE_DATA_DIR"],
        "PORT": "abc",
        "OPENAI_BACKGROUND": "maybe",
        "CONSERJE_TIMEZONE": "Mars/Olympus",
        "BUFFER_WINDOW_MS": "-1",
    }

    problems = problems_of(bad)

    assert len(problems) == 6
    for name in (
        "PORT",
        "OPENAI_BACKGROUND",
        "CONSERJE_TIMEZONE",
        "BUFFER_WINDOW_MS",
        "OPENAI_API_KEY",
        "WHAPI_TOKEN",
    ):
        assert sum(name in p for p in problems) == 1, (name, problems)


@pytest.mark.parametrize("token", ["messages", "message", "statuses", "presences", "post", "patch"])
def test_a_webhook_token_that_is_a_whapi_event_name_is_refused(env, token):
    # /hook/messages would be Whapi's method mode, not this token: the two cannot share a URL.
    problems = problems_of({**env, "WEBHOOK_TOKEN": token})

    assert len(problems) == 1
    assert problems[0].startswith("WEBHOOK_TOKEN is a Whapi event type or method name")
    assert "choose another token" in problems[0]


def test_a_webhook_token_that_only_contains_an_event_name_is_kept(env):
    settings = load_settings({**env, "WEBHOOK_TOKEN": "messages-7f3a9c"})

    assert settings.webhook_token == "messages-7f3a9c"


@pytest.mark.parametrize("staff", ["34600111222", "+34600111222", "staff", "34600111222@whatsapp"])
def test_a_staff_chat_id_that_is_not_a_chat_id_is_refused_without_repeating_it(env, staff):
    # escalate_to_human would send the hand-off notice to a chat no one reads.
    problems = problems_of({**env, "STAFF_CHAT_ID": staff})

    assert len(problems) == 1
    assert problems[0].startswith("STAFF_CHAT_ID is not a chat id")
    assert staff not in problems[0]


@pytest.mark.parametrize("staff", ["34600111222@s.whatsapp.net", "120363000000000001@g.us"])
def test_a_staff_chat_id_for_a_person_or_a_group_is_kept(env, staff):
    assert load_settings({**env, "STAFF_CHAT_ID": staff}).staff_chat_id == staff


def test_data_dir_that_cannot_be_created_is_reported(env, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    problems = problems_of({**env, "CONSERJE_DATA_DIR": str(blocker / "sub")})

    assert len(problems) == 1
    assert "CONSERJE_DATA_DIR" in problems[0]
    assert str(blocker / "sub") in problems[0]


def test_instructions_are_read_from_a_file(env, tmp_path):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Eres el conserje del Hostal Brisa. Responde en dos frases.\n", "utf-8")

    settings = load_settings(
        {**env, "OPENAI_INSTRUCTIONS_FILE": str(prompt), "OPENAI_INSTRUCTIONS": "ignored"}
    )

    assert settings.instructions == "Eres el conserje del Hostal Brisa. Responde en dos frases.\n"


def test_instructions_given_inline(env):
    settings = load_settings({**env, "OPENAI_INSTRUCTIONS": "Sé breve."})

    assert settings.instructions == "Sé breve."


def test_missing_instructions_file_is_reported(env, tmp_path):
    missing = tmp_path / "no-such-prompt.txt"

    problems = problems_of({**env, "OPENAI_INSTRUCTIONS_FILE": str(missing)})

    assert len(problems) == 1
    assert "OPENAI_INSTRUCTIONS_FILE" in problems[0]
    assert str(missing) in problems[0]


def test_production_environment(env):
    assert load_settings({**env, "ENVIRONMENT": "production"}).production is True
    assert load_settings({**env, "ENVIRONMENT": "staging"}).production is False


def test_serve_with_bad_settings_exits_2_with_one_line_per_problem(tmp_path):
    child_env = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    child_env.update({"PORT": "abc", "CONSERJE_DATA_DIR": str(tmp_path / "data")})

    done = subprocess.run(
        [sys.executable, "-m", "conserje", "serve"],
        env=child_env,
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines
    assert all(line.startswith("conserje: ") for line in lines), lines
    for name in ("PORT", "OPENAI_API_KEY", "WHAPI_TOKEN"):
        assert sum(name in line for line in lines) == 1, (name, lines)
    # Three problems, then one closing line saying the server did not start.
    assert len(lines) == 4
