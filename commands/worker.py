"""The embedded Celery worker: with the in-memory broker (the default, no external service)
the `xmppd` process runs one worker thread, so long commands are truly asynchronous without
Redis or RabbitMQ. Production sets CELERY_BROKER_URL and runs `celery -A xmppsite worker`.

The thread is a daemon: it ends with the process (runs it leaves unfinished are marked
"interrupted" at the next start, see `commands.runtime`) and outlives a server restart
inside one process (tests).
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)
START_TIMEOUT = 10.0
POLLING_INTERVAL = 0.05
_lock = threading.Lock()
_worker: object | None = None
_thread: threading.Thread | None = None


def is_embedded() -> bool:
    """True when tasks need a worker in this process: memory broker, not eager."""
    from django.conf import settings

    return (str(getattr(settings, "CELERY_BROKER_URL", "")).startswith("memory://")
            and not getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False))


def ensure_started() -> None:
    """Start the worker thread once (idempotent, thread-safe)."""
    global _worker, _thread
    with _lock:
        if _thread is not None and _thread.is_alive():
            return
        from celery import current_app
        from celery.worker import WorkController
        from celery.worker import state

        app = current_app._get_current_object()
        app.finalize()
        # The memory transport polls its queues: once a second by default, too slow for an
        # operator waiting on a command.
        options = dict(app.conf.broker_transport_options or {})
        options.setdefault("polling_interval", POLLING_INTERVAL)
        app.conf.broker_transport_options = options
        state.should_terminate = None
        started = threading.Event()

        class EmbeddedWorker(WorkController):
            def on_consumer_ready(self, consumer: object) -> None:
                started.set()

        worker = EmbeddedWorker(app=app, concurrency=1, pool="solo", hostname="xmppd@embedded",
                                loglevel="WARNING", logfile=None, ready_callback=None,
                                without_heartbeat=True, without_mingle=True, without_gossip=True)
        thread = threading.Thread(target=worker.start, name="celery-embedded", daemon=True)
        thread.start()
        if not started.wait(START_TIMEOUT):
            log.error("the embedded Celery worker did not start within %.0f s", START_TIMEOUT)
        _worker, _thread = worker, thread
        log.info("embedded Celery worker started (in-memory broker)")
