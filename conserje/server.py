"""``conserje serve``: bind, answer ``/health``, boot in the background, stop cleanly."""

from __future__ import annotations

import _thread
import logging
import math
import os
import resource
import signal
import threading
import types
from collections.abc import Callable, Iterable

from waitress.server import BaseWSGIServer, create_server

from conserje.config import Settings
from conserje.http.app import create_app
from conserje.http.channel import use_guarded_channels
from conserje.http.live import MAX_STREAMS
from conserje.logs import RepeatLimitedLogger, add_handler
from conserje.runtime import Runtime
from conserje.uncaught import watch_threads

__all__ = ["serve"]

log = logging.getLogger(__name__)

# Each dashboard stream holds a thread for its whole life: they get threads of their own.
_HTTP_THREADS = 8 + MAX_STREAMS


class _Stop(KeyboardInterrupt):
    """Raised in the main thread by a signal handler to leave Waitress's loop.

    It must be a ``KeyboardInterrupt``: Waitress's channels catch and log any other
    exception raised while they handle a request, and would go on serving.
    """


# Descriptors beyond the HTTP connections: journal segments, snapshots, the pools to
# OpenAI and Whapi, tool plugins. Running out of them would fail a journal write.
_SPARE_DESCRIPTORS = 256


def ensure_descriptors(connections: int) -> int:
    """Raise the soft open-files limit so ``connections`` leave descriptors to spare.

    A shell's default soft limit (often 1024) is below what ``HTTP_CONNECTION_LIMIT``
    needs; the hard limit usually allows more. Returns the soft limit in force; logs
    a warning when even the hard limit is too low.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + _SPARE_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
        if soft < wanted:
            log.warning(
                "open files limit %d is low for HTTP_CONNECTION_LIMIT=%d: lower it, or raise "
                "the limit (systemd: LimitNOFILE)",
                soft,
                connections,
            )
    return soft


def _count_refused_body(runtime: Runtime, path: str) -> None:
    # Waitress answers these 413s itself; the webhook never sees them to count them.
    if path == "/hook" or path.startswith("/hook/"):
        runtime.metrics.webhooks.labels("too_large").inc()


def serve(
    settings: Settings,
    *,
    extra_routes: Iterable[tuple[str, object]] = (),
    on_listening: Callable[[], None] | None = None,
) -> int:
    """Run the server until SIGTERM or SIGINT; return the process exit code.

    The first signal starts a graceful stop while the server keeps answering:
    webhooks get 503 (Whapi retries them later), appends already queued reach the
    disk, chat actors finish what they are doing within ``SHUTDOWN_TIMEOUT_MS`` (what
    they do not finish, boot recovers), and the journal is flushed and closed. Then the
    server leaves its loop and the process exits 0. A second signal exits at once with
    128 + its number, as a shell reports a process killed by it.

    Args:
        settings: validated settings.
        extra_routes: more ``(route, resource)`` pairs (the demo's simulator).
        on_listening: called once the port is bound, before requests are served.
    """
    fatal = threading.Event()

    def on_fatal() -> None:
        fatal.set()
        signal.raise_signal(signal.SIGTERM)

    runtime = Runtime(settings, on_fatal=on_fatal)
    add_handler(runtime.recent_logs)
    unwatch = watch_threads(runtime.metrics)
    ensure_descriptors(settings.http_connection_limit)
    read_timeout = math.ceil(settings.http_read_timeout_ms / 1000)
    server_map: dict[int, object] = {}
    server = create_server(
        create_app(runtime, extra_routes),
        map=server_map,
        host=settings.host,
        port=settings.port,
        threads=_HTTP_THREADS,
        max_request_body_size=settings.webhook_max_bytes + 1,
        connection_limit=settings.http_connection_limit,
        # A request must arrive whole within this time (conserje.http.channel), and an
        # idle kept-alive connection is closed after it; checked every quarter of it.
        channel_timeout=read_timeout,
        cleanup_interval=max(1, read_timeout // 4),
        # select() cannot watch descriptors above 1024; poll() can.
        asyncore_use_poll=True,
        ident="conserje",
    )
    use_guarded_channels(server_map, lambda path: _count_refused_body(runtime, path))
    # Its "Task queue depth" warning comes once per request that waits for a thread.
    server.task_dispatcher.queue_logger = RepeatLimitedLogger(
        server.task_dispatcher.queue_logger, settings.log_repeat_window_ms / 1000
    )
    log.info("listening on http://%s:%s", settings.host, settings.port)
    if on_listening is not None:
        on_listening()

    received: list[str] = []
    drained = threading.Event()

    def drain() -> None:
        log.info(
            "%s received: refusing webhooks, stopping within %.1f s",
            received[0],
            settings.shutdown_timeout_ms / 1000,
        )
        runtime.shutdown()
        drained.set()
        # Back to the main thread, which then leaves Waitress's loop.
        _thread.interrupt_main(signal.SIGTERM)
        _wake(server)

    def stop(signum: int, frame: types.FrameType | None) -> None:
        if drained.is_set():
            raise _Stop
        if received:
            # No logging here: the main thread may be inside a handler's lock.
            name = signal.Signals(signum).name
            os.write(2, f"conserje: {name} received again: exiting at once\n".encode())
            os._exit(128 + signum)
        received.append(signal.Signals(signum).name)
        # Dashboard streams would hold Waitress's threads until they end by themselves.
        runtime.feed.close()
        threading.Thread(target=drain, name="shutdown", daemon=True).start()

    # Handlers first: a boot that fails at once signals the main thread right away.
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        threading.Thread(target=runtime.boot, name="boot", daemon=True).start()
        # Waitress's run() ends quietly on a KeyboardInterrupt; outside it, we catch it.
        server.run()
    except _Stop:
        pass
    finally:
        if not received:
            runtime.shutdown()
        server.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        unwatch()
        logging.getLogger().removeHandler(runtime.recent_logs)
    log.info("stopped")
    return 1 if fatal.is_set() or runtime.failure else 0


def _wake(server: object) -> None:
    """Wake Waitress's loop so that it sees the signal now rather than at its next timeout."""
    # A server on several sockets has no trigger; its loop wakes within a second anyway.
    if isinstance(server, BaseWSGIServer):
        server.pull_trigger()
