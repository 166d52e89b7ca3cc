"""``conserje serve``: bind, answer ``/health``, boot in the background, stop cleanly."""

from __future__ import annotations

import logging
import math
import resource
import signal
import threading
import types
from collections.abc import Callable, Iterable

from waitress.server import create_server

from conserje.config import Settings
from conserje.http.app import create_app
from conserje.http.channel import use_guarded_channels
from conserje.http.live import MAX_STREAMS
from conserje.runtime import Runtime

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
    logging.getLogger().addHandler(runtime.recent_logs)
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
    log.info("listening on http://%s:%s", settings.host, settings.port)
    if on_listening is not None:
        on_listening()

    received: list[str] = []

    def stop(signum: int, frame: types.FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        # Waitress waits for its busy threads as it leaves run(): end the dashboard's
        # streams first, or each would hold the stop up until it ends by itself.
        runtime.feed.close()
        raise _Stop

    # Handlers first: a boot that fails at once signals the main thread right away.
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        threading.Thread(target=runtime.boot, name="boot", daemon=True).start()
        # Waitress's run() ends quietly on a KeyboardInterrupt; outside it, we catch it.
        server.run()
    except _Stop:
        pass
    finally:
        if received:
            log.info("%s received: stopping", received[0])
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        server.close()
        runtime.shutdown()
        logging.getLogger().removeHandler(runtime.recent_logs)
    return 1 if fatal.is_set() or runtime.failure else 0
