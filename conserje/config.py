"""Settings, read from environment variables and validated all at once.

:func:`load_settings` reports every problem it finds, one sentence each, so an operator
fixes a deployment in one pass instead of one restart per mistake. Names follow the
seed documents (``HISTORIAL_SUMMARY_THRESHOLD`` keeps its Spanish spelling).
"""

from __future__ import annotations

import os
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from conserje.chat_ids import BadChatId, chat_id
from conserje.errors import ConfigError
from conserje.logs import LOG_FORMATS
from conserje.whapi.webhook_modes import RESERVED_NAMES

__all__ = ["DEFAULT_FALLBACK", "DEFAULT_INSTRUCTIONS", "Settings", "load_settings"]

DEFAULT_INSTRUCTIONS = (
    "You are a friendly, concise assistant answering guests on WhatsApp on behalf of a "
    "business. Answer in the guest's language. If you do not know something, say so and "
    "offer to pass the question to a person."
)

DEFAULT_FALLBACK = (
    "Sorry, I cannot answer right now. A person from the team will get back to you soon."
)

_T = TypeVar("_T")


@dataclass(frozen=True)
class Settings:
    """Everything ``conserje serve`` needs to run, already validated."""

    host: str
    port: int
    data_dir: Path
    environment: str
    openai_api_key: str
    openai_base_url: str | None
    openai_model: str
    instructions: str
    openai_background: bool
    openai_run_timeout_ms: int
    openai_request_timeout_ms: int
    openai_strict_validation: bool
    openai_max_concurrency: int
    thread_token_threshold: int
    historial_summary_threshold: int
    orphan_run_policy: str
    compaction_method: str
    whapi_token: str
    whapi_api_url: str
    whapi_timeout_ms: int
    webhook_token: str | None
    admin_token: str | None
    timezone: str
    buffer_window_ms: int
    buffer_max_wait_ms: int
    buffer_max_messages: int
    typing_extended_ms: int
    shutdown_timeout_ms: int
    actor_idle_ms: int
    actor_max_live: int
    cleanup_interval: int
    staff_chat_id: str | None
    human_handoff_pause_ms: int
    fallback_message: str
    tool_interim_after_ms: int
    allowed_chat_types: frozenset[str]
    journal_fsync: bool
    journal_segment_bytes: int
    journal_snapshot_events: int
    webhook_max_bytes: int
    log_level: str
    openai_transcribe_model: str
    media_timeout_ms: int
    media_max_bytes: int
    media_image_max_bytes: int
    media_retention_days: int
    openai_file_input: bool
    voice_replies: bool
    openai_tts_model: str
    openai_tts_voice: str
    http_connection_limit: int
    http_read_timeout_ms: int
    dashboard_stream_ms: int
    log_format: str
    log_repeat_window_ms: int

    @property
    def production(self) -> bool:
        """Tell whether development-only endpoints must be refused."""
        return self.environment == "production"

    @property
    def journal_dir(self) -> Path:
        """The journal's segments, inside the data dir."""
        return self.data_dir / "journal"

    @property
    def snapshot_dir(self) -> Path:
        """The snapshots of all chats' state, inside the data dir."""
        return self.data_dir / "snapshots"

    @property
    def media_dir(self) -> Path:
        """Guests' voice notes, photos and documents, inside the data dir."""
        return self.data_dir / "media"

    @property
    def audio_dir(self) -> Path:
        """Voice notes spoken as replies (served by ``GET /audio/{filename}``)."""
        return self.data_dir / "audio"


class _Reader:
    """Reads typed values from an environment, collecting problems instead of raising."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(name, "").strip()
        return value or default

    def required(self, name: str, meaning: str) -> str:
        value = self.text(name)
        if value is None:
            self.problems.append(f"{name} is missing: set it to {meaning}")
            return ""
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        return self._parsed(
            name, default, int, f"a whole number from {low} to {high}", lambda v: low <= v <= high
        )

    def boolean(self, name: str, default: bool) -> bool:
        words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() not in words:
            self.problems.append(f"{name}={raw!r} is not a boolean: use true or false")
            return default
        return words[raw.lower()]

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        raw = self.text(name, default) or default
        if raw not in choices:
            self.problems.append(f"{name}={raw!r} is not one of {', '.join(choices)}")
            return default
        return raw

    def choices(
        self, name: str, default: tuple[str, ...], allowed: tuple[str, ...]
    ) -> frozenset[str]:
        raw = self.text(name)
        if raw is None:
            return frozenset(default)
        picked = {part.strip() for part in raw.split(",") if part.strip()}
        unknown = picked - set(allowed)
        if unknown or not picked:
            self.problems.append(
                f"{name}={raw!r}: use a comma-separated list of {', '.join(allowed)}"
            )
            return frozenset(default)
        return frozenset(picked)

    def timezone(self, name: str, default: str) -> str:
        raw = self.text(name, default) or default
        try:
            ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError):
            self.problems.append(f"{name}={raw!r} is not an IANA time zone (e.g. Europe/Madrid)")
            return default
        return raw

    def url(self, name: str, default: str | None) -> str | None:
        raw = self.text(name, default)
        if raw is None:
            return None
        parts = urllib.parse.urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.problems.append(f"{name}={raw!r} is not an http(s) URL")
        return raw

    def _parsed(
        self,
        name: str,
        default: _T,
        parse: Callable[[str], _T],
        expected: str,
        valid: Callable[[_T], bool],
    ) -> _T:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = parse(raw)
        except ValueError:
            value = None
        if value is None or not valid(value):
            self.problems.append(f"{name}={raw!r} is not {expected}")
            return default
        return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings from ``env`` (default: ``os.environ``).

    Raises:
        ConfigError: one or more settings are missing or malformed; ``problems``
            lists them all.
    """
    r = _Reader(os.environ if env is None else env)
    data_dir = Path(r.text("CONSERJE_DATA_DIR", "./data") or "./data")
    settings = Settings(
        host=r.text("HOST", "0.0.0.0") or "0.0.0.0",  # noqa: S104 - a server listens on all interfaces by default
        port=r.integer("PORT", 8080, 1, 65535),
        data_dir=data_dir,
        environment=r.text("ENVIRONMENT", "development") or "development",
        openai_api_key=r.required("OPENAI_API_KEY", "your OpenAI API key"),
        openai_base_url=r.url("OPENAI_BASE_URL", None),
        openai_model=r.text("OPENAI_MODEL", "gpt-5.4-mini") or "gpt-5.4-mini",
        instructions=_instructions(r),
        openai_background=r.boolean("OPENAI_BACKGROUND", True),
        openai_run_timeout_ms=r.integer("OPENAI_RUN_TIMEOUT_MS", 120_000, 1_000, 3_600_000),
        openai_request_timeout_ms=r.integer("OPENAI_REQUEST_TIMEOUT_MS", 30_000, 100, 600_000),
        openai_strict_validation=r.boolean("OPENAI_STRICT_VALIDATION", False),
        openai_max_concurrency=r.integer("OPENAI_MAX_CONCURRENCY", 16, 1, 10_000),
        thread_token_threshold=r.integer("THREAD_TOKEN_THRESHOLD", 8_000, 0, 10_000_000),
        historial_summary_threshold=r.integer(
            "HISTORIAL_SUMMARY_THRESHOLD", 5_000, 100, 10_000_000
        ),
        orphan_run_policy=r.choice("ORPHAN_RUN_POLICY", "adopt", ("adopt", "cancel")),
        compaction_method=r.choice("COMPACTION_METHOD", "auto", ("auto", "summary")),
        whapi_token=r.required("WHAPI_TOKEN", "your Whapi channel token"),
        whapi_api_url=r.url("WHAPI_API_URL", "https://gate.whapi.cloud") or "",
        whapi_timeout_ms=r.integer("WHAPI_TIMEOUT_MS", 15_000, 100, 120_000),
        webhook_token=_webhook_token(r),
        admin_token=r.text("ADMIN_TOKEN"),
        timezone=r.timezone("CONSERJE_TIMEZONE", "UTC"),
        buffer_window_ms=r.integer("BUFFER_WINDOW_MS", 5_000, 0, 600_000),
        buffer_max_wait_ms=r.integer("BUFFER_MAX_WAIT_MS", 20_000, 0, 3_600_000),
        buffer_max_messages=r.integer("BUFFER_MAX_MESSAGES", 50, 1, 10_000),
        typing_extended_ms=r.integer("TYPING_EXTENDED_MS", 10_000, 0, 600_000),
        shutdown_timeout_ms=r.integer("SHUTDOWN_TIMEOUT_MS", 5_000, 0, 600_000),
        actor_idle_ms=r.integer("ACTOR_IDLE_MS", 300_000, 1_000, 86_400_000),
        actor_max_live=r.integer("ACTOR_MAX_LIVE", 1_000, 1, 1_000_000),
        cleanup_interval=r.integer("CLEANUP_INTERVAL", 3_600_000, 1_000, 604_800_000),
        staff_chat_id=_staff_chat_id(r),
        human_handoff_pause_ms=r.integer("HUMAN_HANDOFF_PAUSE_MS", 1_800_000, 0, 2_592_000_000),
        fallback_message=r.text("FALLBACK_MESSAGE", DEFAULT_FALLBACK) or DEFAULT_FALLBACK,
        tool_interim_after_ms=r.integer("TOOL_INTERIM_AFTER_MS", 2_000, 0, 600_000),
        allowed_chat_types=r.choices("ALLOWED_CHAT_TYPES", ("contact",), ("contact", "group")),
        journal_fsync=r.choice("JOURNAL_FSYNC", "always", ("always", "off")) == "always",
        journal_segment_bytes=r.integer(
            "JOURNAL_SEGMENT_BYTES", 64 * 1024 * 1024, 4096, 16 * 1024 * 1024 * 1024
        ),
        journal_snapshot_events=r.integer("JOURNAL_SNAPSHOT_EVENTS", 50_000, 1, 1_000_000_000),
        webhook_max_bytes=r.integer("WEBHOOK_MAX_BYTES", 1_048_576, 1_024, 104_857_600),
        log_level=r.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        openai_transcribe_model=r.text("OPENAI_TRANSCRIBE_MODEL", "gpt-transcribe")
        or "gpt-transcribe",
        media_timeout_ms=r.integer("MEDIA_TIMEOUT_MS", 30_000, 1_000, 600_000),
        media_max_bytes=r.integer("MEDIA_MAX_BYTES", 25 * 1024 * 1024, 1_024, 100 * 1024 * 1024),
        media_image_max_bytes=r.integer(
            "MEDIA_IMAGE_MAX_BYTES", 4 * 1024 * 1024, 10_000, 20 * 1024 * 1024
        ),
        media_retention_days=r.integer("MEDIA_RETENTION_DAYS", 30, 1, 3650),
        openai_file_input=r.boolean("OPENAI_FILE_INPUT", True),
        voice_replies=r.boolean("VOICE_REPLIES", False),
        # Every audio.speech model shuts down on 2027-01-06; this one is alive until then.
        openai_tts_model=r.text("OPENAI_TTS_MODEL", "gpt-4o-mini-tts") or "gpt-4o-mini-tts",
        openai_tts_voice=r.text("OPENAI_TTS_VOICE", "marin") or "marin",
        http_connection_limit=r.integer("HTTP_CONNECTION_LIMIT", 1_000, 10, 100_000),
        http_read_timeout_ms=r.integer("HTTP_READ_TIMEOUT_MS", 15_000, 1_000, 600_000),
        dashboard_stream_ms=r.integer("DASHBOARD_STREAM_MS", 30_000, 1_000, 3_600_000),
        log_format=r.choice("LOG_FORMAT", "text", LOG_FORMATS),
        log_repeat_window_ms=r.integer("LOG_REPEAT_WINDOW_MS", 60_000, 0, 86_400_000),
    )
    _check_data_dir(data_dir, r.problems)
    if r.problems:
        raise ConfigError(r.problems)
    return settings


def _instructions(r: _Reader) -> str:
    path = r.text("OPENAI_INSTRUCTIONS_FILE")
    if path is not None:
        try:
            return Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            r.problems.append(f"OPENAI_INSTRUCTIONS_FILE={path!r} cannot be read: {exc}")
    return r.text("OPENAI_INSTRUCTIONS", DEFAULT_INSTRUCTIONS) or DEFAULT_INSTRUCTIONS


def _staff_chat_id(r: _Reader) -> str | None:
    staff = r.text("STAFF_CHAT_ID")
    if staff is None:
        return None
    try:
        return chat_id(staff)
    except BadChatId:
        # Not quoted back: it is a phone number, and this message may end up in a log.
        r.problems.append(
            "STAFF_CHAT_ID is not a chat id: use the full id, such as "
            "34600000000@s.whatsapp.net for a person or 120363000000000001@g.us for a group "
            "(escalations would otherwise be sent to no one)"
        )
        return None


def _webhook_token(r: _Reader) -> str | None:
    token = r.text("WEBHOOK_TOKEN")
    if token in RESERVED_NAMES:
        # The value is not repeated: it is a secret, however poor a one.
        r.problems.append(
            "WEBHOOK_TOKEN is a Whapi event type or method name (such as messages or post), "
            "which Whapi's path and method modes put after /hook in the URL: choose "
            "another token, e.g. a long random one"
        )
        return None
    return token


def _check_data_dir(data_dir: Path, problems: list[str]) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        problems.append(
            f"CONSERJE_DATA_DIR={str(data_dir)!r} is not a writable directory: {exc.strerror}"
        )
