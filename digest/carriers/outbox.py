"""The local outbox: each message a file, beside its HTML part, under index pages to browse them."""

from __future__ import annotations

import binascii
import os
import re
from pathlib import Path
from typing import Callable, Mapping

from ..errors import ConfigError
from ..outbox_index import OutboxIndex
from ..outbox_keys import file_patterns
from .base import ClaimTaken


class OutboxTransport:
    """Write each message as `<dir>/<key>.eml`; the same key rewrites the same file.

    `close()` brings the outbox's index pages up to date (only those of folders written since the last
    build: see outbox_index.py). A transport that is never closed, such as the web app's, says `autoclose`
    and brings the index up to date after each message instead.
    """

    name = "outbox"
    # send() takes a fence and asks it at the last moment, between writing the message and making it visible, so
    # a run stopped mid-write and taken over meanwhile never replaces the other run's file.
    fenced = True
    # Messages that may await their ledger mark together (a run's page): a crash re-writes at most these files,
    # it sends nothing twice.
    record_batch = 200

    def __init__(self, directory: Path, autoclose: bool = False):
        self.directory = Path(directory)
        self.index = OutboxIndex(self.directory)
        self.autoclose = autoclose

    def check(self) -> None:
        """Make sure messages can be written here, before a run claims anyone (a misconfigured outbox must not
        cost every recipient an attempt)."""
        # The nearest existing folder on the way must be a writable folder; nothing is created until a message is.
        there = self.directory.absolute()
        while not there.exists() and there != there.parent:
            there = there.parent
        why = None if there.is_dir() else "Not a directory"
        if why is None and not os.access(there, os.W_OK | os.X_OK):
            why = "Permission denied"
        if why:
            raise ConfigError(f"the outbox {self.directory} cannot be written: {why}")

    def send(self, key: str, to: str, raw: bytes, tags: Mapping[str, str] | None = None,
             fence: Callable[[], bool] | None = None) -> str:
        # Plain strings, not Path: pathlib interns every part, and a run writes a new name per subscriber.
        path = os.path.join(self.directory, f"{key}.eml")
        folder, name = os.path.split(path)
        with self.index.writing(key, raw):
            os.makedirs(folder, exist_ok=True)
            tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                f.write(raw)
            if fence is not None and not fence():  # asked last: a run stopped meanwhile may have lost the claim
                os.unlink(tmp)
                raise ClaimTaken(key)
            os.replace(tmp, path)  # atomic: a crash leaves the old file or the new one, never half of one
            # A browser cannot show an .eml: keep its HTML part beside it for the index pages.
            with open(path[:-4] + ".html", "w", encoding="utf-8") as f:
                f.write(html_part(raw))
        if self.autoclose:
            self.close()
        return f"{key}.eml"

    def forget(self, *subscriber_ids: int) -> int:
        """Delete every message to these people (their .eml and .html), refresh the index pages; return how many
        files went."""
        if not self.directory.is_dir():
            return 0
        files = [p for sid in subscriber_ids for pattern in file_patterns(sid) for p in self.directory.glob(pattern)]
        for p in files:
            p.unlink()
        if files:
            stems = {p.relative_to(self.directory).with_suffix("").as_posix() for p in files}
            refresh_index(self.directory, sorted(stems))
        return len(files)

    def close(self) -> None:
        """Clear killed writers' half-written files and rebuild the index pages written since the last build."""
        folders = [self.index.folder_dir(f) for f in self.index.stale_folders()]
        remove_stale_temp_files(self.directory, folders)
        self.index.build()


def refresh_index(directory: Path, keys: list[str]) -> None:
    """Bring the index up to date after these messages' files were deleted or changed by hand."""
    index = OutboxIndex(Path(directory))
    index.mark(keys)
    index.build()


def remove_stale_temp_files(directory: Path, folders: list[Path] | None = None) -> int:
    """Delete the half-written `.<name>.<pid>.tmp` files of processes that are gone (killed mid-write).

    Only in `folders` (those written since the last build: a killed writer marked its folder before it wrote),
    so closing never lists the whole history; None looks everywhere. A temp file is never read as a message;
    one whose process still runs is being written now and stays.
    """
    removed = 0
    found = Path(directory).rglob(".*.tmp") if folders is None else (
        Path(e.path) for f in folders if f.is_dir() for e in os.scandir(f)
        if e.name.startswith(".") and e.name.endswith(".tmp"))
    for tmp in list(found):
        pid = tmp.suffixes[-2].lstrip(".") if len(tmp.suffixes) >= 2 else ""
        if not pid.isdigit() or _alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


_BOUNDARY = re.compile(rb'boundary="?([^";\r\n]+)"?')


def html_part(raw: bytes) -> str:
    """The decoded text/html part of a message we built (quoted-printable or base64), or ''."""
    m = _BOUNDARY.search(raw, 0, raw.find(b"\r\n\r\n"))
    if not m:
        return ""
    for part in raw.split(b"--" + m.group(1)):
        head, _, body = part.partition(b"\r\n\r\n")
        lower = head.lower()
        if b"content-type: text/html" in lower:
            if b"base64" in lower:
                return binascii.a2b_base64(body).decode("utf-8", "replace")
            return binascii.a2b_qp(body).decode("utf-8", "replace")
    return ""
