"""Who handles the mail a page asked for, after its answer (digest.page_mail stores the request first).

ThreadMailer  `digest serve`: one background thread fed request ids; at start it takes up what a previous process
              left, and `close` drains the queue (a clean shutdown loses nothing).
SqsMailer     AWS Lambda: a function is frozen after its answer, so the id goes to an SQS queue and the
              page-mail function sends (digest.lambdas.page_mail).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import traceback
from typing import Any, Mapping, Protocol

from sqlalchemy.orm import Session

from digest import page_mail

log = logging.getLogger(__name__)


class Mailer(Protocol):
    def submit(self, request_id: int) -> None:
        """Have a stored request handled soon (after the answer is on its way)."""

    def drain(self) -> None:
        """Wait until every request submitted so far is handled."""

    def close(self) -> None:
        """Handle what is waiting, then stop."""


_STOP = object()


class ThreadMailer:
    """One thread, so the page mail of one process is sent in order and never twice at once.

    A request is handled `delay` seconds after it was submitted at the earliest: by then its answer has left, so
    the work of sending never competes with the answer it follows (which would show in its timing).
    """

    def __init__(self, core: Mapping[str, Any], delay: float = 0.05):
        self.core = core  # the app's settings, engine, taxonomy, transport and clock, read when a request is handled
        self.delay = delay
        self.queue: queue.Queue = queue.Queue()
        self.handled = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the thread and queue what an earlier process stored but never handled."""
        with self._lock:
            if self._thread is not None:
                return
            with Session(self.core["engine"]) as s:
                for request_id in page_mail.waiting(s):
                    self.queue.put((0.0, request_id))
            self._thread = threading.Thread(target=self._run, name="page-mail", daemon=True)
            self._thread.start()

    def submit(self, request_id: int) -> None:
        self.start()
        self.queue.put((time.monotonic() + self.delay, request_id))

    def drain(self) -> None:
        if self._thread is not None:
            self.queue.join()

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self.queue.put(_STOP)
        thread.join()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is _STOP:
                    return
                not_before, request_id = item
                if (wait := not_before - time.monotonic()) > 0:
                    time.sleep(wait)
                c = self.core
                with Session(c["engine"], expire_on_commit=False) as s:
                    outcome = page_mail.handle(s, c["settings"], c["tax"], c["transport"], request_id, c["clock"])
                self.handled += outcome.kind != "gone"
            except Exception as e:  # noqa: BLE001  the thread outlives one bad request; its row stays for a restart
                from .context import without_addresses  # (a provider's refusal may quote the address)

                log.error("page mail request %s failed\n%s", item[1],
                          without_addresses("".join(traceback.format_exception(e))))
            finally:
                self.queue.task_done()


class SqsMailer:
    """Send each request id to the page-mail queue; the function behind it handles the request."""

    def __init__(self, queue_url: str, sqs: Any = None):
        self.queue_url, self.sqs = queue_url, sqs

    def submit(self, request_id: int) -> None:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.sqs = self.sqs or boto3.client("sqs")
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps({"mail_request": request_id}))
        except (BotoCoreError, ClientError):  # the request is stored: the hourly planner sends what lost its wake-up
            log.exception("page mail request not queued", extra={"request_id": request_id})

    def drain(self) -> None:
        pass

    def close(self) -> None:
        pass
