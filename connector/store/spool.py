"""The ingress spool: deliveries acknowledged while the database cannot be written, kept on local disk.

Persist before acknowledge needs durable storage, not necessarily the database. When the inbox cannot be
written (the database is down or does not answer, or its circuit breaker is open), a verified delivery is
written to a file here — to a temporary name, fsync'd, renamed, the directory fsync'd — and answered 202
like any other. `drain` moves spooled deliveries into the inbox, through the inbox's own dedupe, once the
database answers again: the worker drains at every turn and the web process after each successful insert.

- One drainer at a time per directory (an exclusive ``flock``; the kernel releases it if the drainer dies).
- A crash between the inbox insert and the file's removal repeats an insert that the inbox answers as a
  duplicate (same source and delivery id): nothing is lost, nothing applied twice.
- A file that cannot be read back (a disk fault) moves to ``rejected/`` and is logged; it is never deleted. So
  does one whose values the database refuses (a NUL in an id on PostgreSQL: the door answers 400 to such a
  delivery, but this one came while the database could not be asked). One the inbox refuses for now (a
  constraint the database's state breaks) stays for the next drain; the files behind either go on.
- Each database has its own subdirectory (`for_database`: a digest of its URL, password left out), so two
  deployments started from one directory (staging and production, say) never drain into each other.
- The spool refuses new files past `max_files`: the web process then answers 503, as without a spool.

Why: help desks disable a webhook that fails too often (Zendesk's circuit breaker trips at ≥ 70 % errors in
5 minutes), so a database outage answered with 503s would also cost the deliveries that follow it. With
several web machines each spools to its own disk; run a worker there too, or traffic drains it.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DataError, SQLAlchemyError

from connector.errors import StoreUnavailable
from connector.events import format_instant, parse_instant

if TYPE_CHECKING:
    from connector.store.store import Store

log = logging.getLogger("connector.spool")

SUFFIX = ".delivery"
RECHECK_SECONDS = 2.0


def for_database(directory: str | os.PathLike[str], database_url: str, **kwargs: Any) -> Spool:
    """The spool of one database: a subdirectory of `directory` named by a digest of its URL."""
    from sqlalchemy.engine import make_url

    identity = make_url(database_url).render_as_string(hide_password=True)
    return Spool(Path(directory) / f"db-{hashlib.sha256(identity.encode()).hexdigest()[:16]}", **kwargs)


class SpoolError(Exception):
    """The spool cannot take this delivery (full, or the disk refused the write)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Spooled:
    source: str
    dedupe_key: str
    body: bytes
    headers: Mapping[str, str]
    received_at: datetime


class Spool:
    """A directory of deliveries waiting for the database."""

    def __init__(self, directory: str | os.PathLike[str], *, max_files: int = 100_000) -> None:
        self.directory = Path(directory)
        self.max_files = max_files
        self._lock = threading.Lock()
        self._counter = 0
        self._depth: int | None = None
        self._checked_at = 0.0

    # -- writing (web process) ---------------------------------------------------------------------

    def put(self, delivery: Spooled) -> str:
        """Write a delivery durably; return its file name. Raise `SpoolError` if full or the disk refuses."""
        if self.depth() >= self.max_files:
            raise SpoolError(f"the spool holds {self.max_files} deliveries already")
        record = {"v": 1, "source": delivery.source, "dedupe_key": delivery.dedupe_key,
                  "received_at": format_instant(delivery.received_at), "headers": dict(delivery.headers),
                  "body": base64.b64encode(delivery.body).decode("ascii")}
        with self._lock:
            self._counter += 1
            counter = self._counter
        name = f"{time.time_ns():020d}-{os.getpid()}-{threading.get_ident() % 100000}-{counter}{SUFFIX}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / f".{name}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, json.dumps(record, separators=(",", ":")).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, self.directory / name)
            self._sync_dir()
        except OSError as err:
            raise SpoolError(f"the spool directory cannot be written ({type(err).__name__})") from err
        with self._lock:
            self._depth = (self._depth or 0) + 1
        return name

    def depth(self) -> int:
        """How many deliveries wait (re-read from the directory at most every couple of seconds)."""
        now = time.monotonic()
        if self._depth is None or now - self._checked_at > RECHECK_SECONDS:
            self._depth = len(self._files())
            self._checked_at = now
        return self._depth

    # -- draining (worker, or the web process when the database is back) -----------------------------

    def drain(self, store: Store, *, dedupe_window: timedelta, limit: int = 500) -> int:
        """Move up to `limit` spooled deliveries into the inbox; return how many. Stops at a database fault."""
        if not self.directory.is_dir() or self.depth() == 0:
            return 0
        try:
            lock = os.open(self.directory / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError:
            return 0
        moved = 0
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return 0  # another process drains it
            for path in self._files()[:limit]:
                delivery = self._read(path)
                if delivery is None:
                    continue
                try:
                    store.insert_inbox(source=delivery.source, dedupe_key=delivery.dedupe_key, body=delivery.body,
                                       headers=delivery.headers, received_at=delivery.received_at,
                                       dedupe_window=dedupe_window)
                except StoreUnavailable:
                    break
                except DataError as err:
                    # a value no database row can keep (a NUL in an id on PostgreSQL): the door answers such a
                    # delivery 400, but this one came while the database could not be asked
                    self._set_aside(path, err, "the database refuses a value of this delivery")
                    continue
                except SQLAlchemyError as err:
                    # refused for now (a constraint the database's state breaks): kept for the next drain, and
                    # the deliveries behind it go on
                    log.error("a spooled delivery was refused by the inbox; kept for the next drain", extra={
                        "outcome": type(err).__name__, "reason": path.name})
                    continue
                path.unlink(missing_ok=True)
                moved += 1
            if moved:
                self._sync_dir()
                log.info("spooled deliveries moved to the inbox", extra={"outcome": f"{moved} moved"})
        finally:
            os.close(lock)
            self._depth = None
        return moved

    def _read(self, path: Path) -> Spooled | None:
        try:
            record = json.loads(path.read_bytes())
            return Spooled(source=record["source"], dedupe_key=record["dedupe_key"],
                           body=base64.b64decode(record["body"], validate=True), headers=record["headers"],
                           received_at=parse_instant(record["received_at"], "received_at"))
        except FileNotFoundError:
            return None
        except Exception as err:  # a damaged file: keep it aside for an operator, never drop it
            self._set_aside(path, err, "a spooled delivery cannot be read")
            return None

    def _set_aside(self, path: Path, err: Exception, what: str) -> None:
        """Move a file to `rejected/` for an operator (never deleted), and say so at ERROR."""
        rejected = self.directory / "rejected"
        rejected.mkdir(exist_ok=True)
        path.rename(rejected / path.name)
        log.error(f"{what}; kept aside", extra={"outcome": type(err).__name__, "reason": f"rejected/{path.name}"})

    def _files(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))
        except OSError:
            return []

    def _sync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
