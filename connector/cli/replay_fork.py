"""`connector replay` on several cores: the events split by ticket over forked processes, the JSON merged.

A ticket's clocks depend on its own events only, so the history is cut by ticket. The file is cut in as
many stretches of whole lines as there are processes; each process reads the ticket id of each line of its
stretch (`events.line_ticket`, without parsing the rest) and tells the others, through the parent, where
their tickets' lines are. Each then parses its own tickets' lines, in line order, replays them and renders
its tickets' JSON. The parent merges the rendered tickets in the order one process would
have printed them (by each ticket's first event: its instant, then its line) and writes one document, the
same bytes as the one-process path (tested equal). What the tickets share is settled between the
processes before anything is replayed:

- bad lines: each line belongs to one process (its ticket's, or its stretch's when no ticket can be read
  off it), which reports it; the parent lists them all in line order, as `read_jsonl` does;
- a repeated event id (source, account, event_id) on tickets of different processes: the first line keeps
  it, as `order_events` does (the processes send a hash of each event_id; only the ids whose hash is in more
  than one process are compared in full);
- the default `now`, the last event's instant over every process.

A line's ticket id is guessed from its text (`events.line_ticket`); the process that parses the line checks
that the event's ticket is its own, and one that is not (a `"ticket_id"` key inside the ticket's fields,
written before the event's own) makes the caller replay in one process, without a warning: nothing failed.
A line whose ticket id cannot be guessed is parsed by its stretch's process to learn whose it is.

Only where `os.fork` exists and more than one CPU is available, and for histories of at least
`MIN_LINES` lines; a process that fails makes the caller replay in one process instead (`Unavailable`).
The processes end with `os._exit`: the heap of a replay is not freed object by object at exit.

The rendered tickets (about 850 bytes of JSON per event: 100 MB for 120,000 events) do not go through the
pipes: each process writes its own to an unnamed temporary file the parent opened before forking, and sends
only each ticket's place in the order and its length. The parent maps the files and writes slices of them.
Pickled through a pipe, the parent read one process's tickets while the others waited to send theirs: a
quarter of the command's time.
"""

from __future__ import annotations

import mmap
import os
import sys
import tempfile
import traceback
from array import array
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import IO, Any

from connector import jsontext
from connector.config import Config
from connector.events import BadLine, Event, bad_lines_error, format_instant, line_ticket, parse_line
from connector.replay import build_states

MIN_LINES = 20_000   # below this a replay takes well under a second: not worth the processes
MAX_PROCESSES = 8


class Unavailable(Exception):
    """The replay could not be done in several processes (one failed or ended early): do it in one. `quiet`:
    nothing failed, the lines could not be shared by ticket cheaply (no warning is due)."""

    def __init__(self, message: str, *, quiet: bool = False) -> None:
        super().__init__(message)
        self.quiet = quiet


def processes() -> int:
    """How many processes a replay may use: the CPUs this process may run on (1 without `os.fork`)."""
    if not hasattr(os, "fork"):
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_PROCESSES, cpus))


def replay_json(config: Config, text: str, now: datetime | None, workers: int, *, skip_bad: bool,
                warn: Callable[[BadLine], None], write: Callable[[list[bytes | memoryview]], None]) -> None:
    """The replay JSON of the events file's `text` at `now`, as `jsontext.dumps(replay(…), indent=True)`
    encodes it, computed by `workers` forked processes and given to `write` in pieces to write one after
    another (a document of 100 MB is not copied whole). Bad lines raise `EventError` listing them, or with
    `skip_bad` go to `warn` in line order. Raises `Unavailable` if a process fails, before anything is
    written. The processes are waited for after `write`: they free their heaps meanwhile."""
    sys.stdout.flush()
    sys.stderr.flush()
    conns: list[Connection] = []
    pids: list[int] = []
    files = [tempfile.TemporaryFile() for _ in range(workers)]  # unnamed: gone once closed, whatever happens
    bounds = stretches(text, workers)
    try:
        for index in range(workers):
            mine, theirs = Pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child's coverage is not collected; its output is tested
                mine.close()
                _child(theirs, index, workers, config, text, bounds, files[index])
            theirs.close()
            conns.append(mine)
            pids.append(pid)
        write(_parent(conns, files, now, skip_bad=skip_bad, warn=warn))
    finally:
        for conn in conns:
            conn.close()
        for pid in pids:
            os.waitpid(pid, 0)
        for file in files:
            file.close()  # a map of it stays readable: the map holds its own descriptor


def stretches(text: str, workers: int) -> list[int]:
    """Where each process's stretch of whole lines begins, and the text's end: `workers` + 1 offsets."""
    bounds = [0]
    for index in range(1, workers):
        cut = text.find("\n", max(bounds[-1], len(text) * index // workers))
        bounds.append(len(text) if cut < 0 else cut + 1)
    bounds.append(len(text))
    return bounds


def _ask(conns: Sequence[Connection], messages: Sequence[Any] | None = None) -> list[Any]:
    """Send each process its message (if any), then read each one's answer."""
    if messages is not None:
        for conn, message in zip(conns, messages, strict=True):
            conn.send(message)
    answers = []
    for conn in conns:
        try:
            tag, payload = conn.recv()
        except (EOFError, OSError):
            raise Unavailable("a replay process ended early") from None
        if tag == "error":
            raise Unavailable(f"a replay process failed: {payload}")
        if tag == "misread":
            raise Unavailable(f"line {payload}: its ticket id was misread", quiet=True)
        answers.append(payload)
    return answers


def _parent(conns: Sequence[Connection], files: Sequence[IO[bytes]], now: datetime | None, *, skip_bad: bool,
            warn: Callable[[BadLine], None]) -> list[bytes | memoryview]:
    routes = _ask(conns)  # each process's list, for each process, of where that one's lines are
    parsed = _ask(conns, [[found[index] for found in routes] for index in range(len(conns))])
    bad = sorted((b for found, _ in parsed for b in found), key=lambda b: b.line)
    if bad and not skip_bad:
        _stop(conns)
        raise bad_lines_error(bad)
    for b in bad:
        warn(b)
    # an event id in more than one process: compared in full, the first line keeps it
    seen: set[int] = set()
    shared: set[int] = set()
    for number, (_, hashes) in enumerate(parsed):
        ids = array("q", hashes)
        if number:
            shared.update(seen.intersection(ids))
        if number < len(parsed) - 1:  # the last one's ids are looked up, not kept
            seen.update(ids)
    claims = _ask(conns, [shared] * len(conns))
    first: dict[tuple[str, str, str], int] = {}
    for found in claims:
        for ident, number in found:
            first[ident] = min(number, first.get(ident, number))
    drops = [{number for ident, number in found if number != first[ident]} for found in claims]
    lasts = [at for at in _ask(conns, drops) if at is not None]
    if now is None and lasts:
        now = max(lasts)
    if now is None:  # no events at all
        _stop(conns)
        return [jsontext.dumps_bytes({"now": None, "tickets": []}, indent=True)]
    tickets: list[tuple[tuple[datetime, int], memoryview]] = []
    for part, file in zip(_ask(conns, [now] * len(conns)), files, strict=True):
        if not part:
            continue
        written = memoryview(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ))
        start = 0
        for mark, length in part:
            tickets.append((mark, written[start:start + length]))
            start += length
    tickets.sort(key=lambda t: t[0])
    head = b'{\n  "now": ' + jsontext.dumps_bytes(format_instant(now)) + b',\n  "tickets": ['
    if not tickets:
        return [head + b"]\n}"]
    pieces: list[bytes | memoryview] = [head + b"\n"]
    for _, rendered in tickets:
        pieces += (rendered, b",\n")
    pieces[-1] = b"\n  ]\n}"
    return pieces


def _stop(conns: Sequence[Connection]) -> None:
    for conn in conns:
        try:
            conn.send(None)
        except OSError:
            pass


def _child(conn: Connection, index: int, workers: int, config: Config, text: str, bounds: Sequence[int],
           out: IO[bytes]) -> None:  # pragma: no cover - runs in the forked process
    code = 0
    try:
        _work(conn, index, workers, config, text, bounds, out)
    except BaseException:  # noqa: BLE001 - whatever it is, the parent replays in one process
        code = 1
        try:
            conn.send(("error", traceback.format_exc(limit=5)))
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


def _scan(text: str, start: int, stop: int, index: int,
          workers: int) -> tuple[list[tuple[int, str | Event | BadLine]], list[array[int]]]:
    """Read the ticket of each line of `text[start:stop]` (whole lines): return this process's lines (their
    number and text, or what parsing gave where the ticket had to be parsed to be known) and, for each
    process, where its lines are (number, start and end triples; none for this one). The lines are read
    where they stand in the text: cutting the stretch into lines copied it twice."""
    mine: list[tuple[int, str | Event | BadLine]] = []
    routes = [array("q") for _ in range(workers)]
    find = text.find
    number = text.count("\n", 0, start) + 1
    at = start
    while at < stop:
        end = find("\n", at, stop) + 1 or stop  # each line with its newline (a last one may have none)
        guess = line_ticket(text, at, end)
        owner = -1 if guess is None else hash(guess) % workers
        if owner == index:
            mine.append((number, text[at:end]))
        elif owner >= 0:
            routes[owner].extend((number, at, end))
        else:  # a line whose ticket cannot be read cheaply is parsed here, to learn whose it is
            item = parse_line(number, text[at:end])
            if isinstance(item, Event) and hash(item.ticket_id) % workers != index:
                routes[hash(item.ticket_id) % workers].extend((number, at, end))
            elif item is not None:
                mine.append((number, item))  # an event of this process's, or a bad line: this one reports it
        at = end
        number += 1
    return mine, routes


def _work(conn: Connection, index: int, workers: int, config: Config, text: str, bounds: Sequence[int],
          out: IO[bytes]) -> None:  # pragma: no cover - runs in the forked process
    mine, routes = _scan(text, bounds[index], bounds[index + 1], index, workers)
    conn.send(("routes", [found.tobytes() for found in routes]))
    sent: list[bytes] = conn.recv()  # for each stretch, where this process's lines in it are
    if sent is None:
        return
    events: list[Event] = []
    numbers: list[int] = []
    bad: list[BadLine] = []
    for stretch, found in enumerate(sent):
        if stretch == index:
            work: Iterable[tuple[int, str | Event | BadLine]] = mine
        else:
            spots = array("q", found)
            work = ((spots[k], text[spots[k + 1]:spots[k + 2]]) for k in range(0, len(spots), 3))
        for number, line in work:
            item = parse_line(number, line) if isinstance(line, str) else line
            if item is None:
                continue
            if isinstance(item, BadLine):
                bad.append(item)
                continue
            if hash(item.ticket_id) % workers != index:
                # its ticket id was misread: another process may hold the rest of this ticket (the parent
                # replays in one, so stop here)
                conn.send(("misread", number))
                return
            events.append(item)
            numbers.append(number)
    # an event's id is (source, account, event_id); its event_id alone is hashed (two ids with one hash are
    # then compared in full): a tuple and two more strings to hash per event cost 20 ms of 60,000 events
    hashes = array("q", map(hash, [e.event_id for e in events]))
    conn.send(("parsed", (bad, hashes.tobytes())))
    shared = conn.recv()
    if shared is None:
        return
    conn.send(("claims", [((e.source, e.account, e.event_id), number)
                          for e, h, number in zip(events, hashes, numbers, strict=True) if h in shared]
               if shared else []))
    drops = conn.recv()
    if drops or len(set(hashes)) != len(hashes):  # a repeated id, maybe: its first line keeps it
        kept: list[tuple[Event, int]] = []
        unique: set[tuple[str, str, str]] = set()
        for event, number in zip(events, numbers, strict=True):
            ident = (event.source, event.account, event.event_id)
            if number not in drops and ident not in unique:
                unique.add(ident)
                kept.append((event, number))
        events, numbers = [e for e, _ in kept], [n for _, n in kept]
    conn.send(("last", max((e.occurred_at for e in events), default=None)))
    now = conn.recv()
    if now is None:
        return
    first: dict[tuple[str, str, str], tuple[datetime, int]] = {}
    for event, number in zip(events, numbers, strict=True):
        when = event.occurred_at
        if when <= now:
            key = (event.source, event.account, event.ticket_id)
            known = first.get(key)
            if known is None or when < known[0]:  # the lines come in order: a later one is first only if earlier
                first[key] = (when, number)
    states, _, book = build_states(config, events, now, distinct=True)  # repeated ids were dropped above
    places = []
    for state in states.values():
        rendered = _render(book.evaluate(state, now).as_dict())
        out.write(rendered)
        places.append((first[state.key], len(rendered)))
    out.flush()
    conn.send(("tickets", places))
    # ended here, not by `_child` once this returns: returning would free this frame's events, states and
    # reports object by object first (0.1 to 0.2 s of 2.6 for 120,000 events, the parent waiting on it)
    os._exit(0)


def _render(ticket: dict[str, Any]) -> bytes:
    """One ticket's JSON as it stands inside the document's "tickets" list (indented by four spaces)."""
    return b"    " + jsontext.dumps_bytes(ticket, indent=True).replace(b"\n", b"\n    ")
