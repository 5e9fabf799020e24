"""Contributed drawings: validation, storage and export in Google's Quick, Draw! format.

Plain Python and SQLAlchemy, no Flask app (refusals are worded through flask_babel): the
HTTP side is `game.dataset.contribute`. Each drawing is kept with Google's fields (key_id,
word, countrycode, timestamp, recognized, the raw drawing [[xs], [ys], [ts]]) plus the
simplified drawing made by `game.model.ink`, an anonymous contributor id and a moderation
status.

    store = Store("sqlite:////path/contributions.sqlite3")   # or postgresql://...
    key_id = store.add(validate(payload, words), recognized=True, countrycode="FR")
    store.iter_export(fmt="simplified")                      # Google's records, rejected left out

SQLite runs with a rollback journal and synchronous=FULL, PostgreSQL with synchronous_commit on: a
commit that returned is on disk. Concurrent `add`s share commits (group commit): each
returns only after the transaction holding its row has committed.
The schema is managed by Alembic (game/dataset/migrations/); opening a Store upgrades it to head.
A database that cannot serve a call (disk full, files unwritable, server down) makes it
raise StoreUnavailable, and the next call tries again: nothing to reset when it is back.

    python -m game.dataset export --format raw --out DIR [--database URL]   (game/dataset/__main__.py)
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import secrets
import threading
from datetime import datetime, timezone
from pathlib import Path
from operator import itemgetter
from typing import Any, Iterable, Iterator

import orjson
# API refusals in the language of the request (game/solo/rules.py says why).
from flask_babel import gettext as _
from sqlalchemy import (Boolean, DateTime, Index, Integer, String, Text, create_engine, delete, event,
                        func, insert, select, text, update)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from game.model import ink
from game.protocol import MAX_COORDINATE, MAX_POINTS_PER_DRAWING, MAX_STROKES, finite_numbers

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DB_FILENAME = "contributions.sqlite3"
OK, REJECTED = "ok", "rejected"
STATUSES = (OK, REJECTED)
UNKNOWN_COUNTRY = "ZZ"  # Google's code for "not known"
# Google's ndjson field order; export writes exactly these keys in this order.
FIELDS = ("word", "countrycode", "timestamp", "recognized", "key_id", "drawing")
FORMATS = ("raw", "simplified")
_CONTRIBUTOR = re.compile(r"[A-Za-z0-9_-]{8,64}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_TAUGHT_WORD = re.compile(r"[^/\\\x00-\x1f\s](?:[^/\\\x00-\x1f]{0,62}[^/\\\x00-\x1f\s])?")
# Codes that are not countries: Cloudflare's unknown (XX) and Tor (T1).
_NOT_COUNTRIES = {"XX", "T1"}


# --- the table ----------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Contribution(Base):
    """One contributed drawing. Changing this needs a new revision in game/dataset/migrations/versions
    (tests compare the two)."""

    __tablename__ = "contributions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # insertion order: "newest"
    key_id: Mapped[str] = mapped_column(String(20), unique=True)  # random 64-bit, decimal
    word: Mapped[str] = mapped_column(String(64))
    countrycode: Mapped[str] = mapped_column(String(2))
    timestamp: Mapped[str] = mapped_column(String(40))  # Google's text form, UTC
    recognized: Mapped[bool] = mapped_column(Boolean)
    drawing: Mapped[str] = mapped_column(Text)  # raw [[xs], [ys], [ts]] strokes, JSON
    simplified: Mapped[str] = mapped_column(Text)  # game.model.ink.simplify of the raw drawing, JSON
    contributor: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=OK)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_contributions_word_id", "word", "id"),  # newest per word, export per word
        # The data browser's pages: a word's visible drawings, newest first (0002).
        Index("ix_contributions_word_status_id", "word", "status", "id"),
        Index("ix_contributions_contributor", "contributor"),
    )


TABLE = Contribution.__table__


# --- validation ---------------------------------------------------------------


class ContributionError(Exception):
    """A refused contribution; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class StoreUnavailable(Exception):
    """The database could not serve a call (disk full, files unwritable, server down): the
    HTTP side answers 503. Its message is the driver's, on one line, for the log."""


@contextlib.contextmanager
def _database():
    # OperationalError: the driver's word for a fault of the database rather than of the
    # query (SQLite: disk full, I/O error, read-only, locked; psycopg: unreachable, disk full).
    try:
        yield
    except OperationalError as e:
        raise StoreUnavailable(" ".join(f"{type(e.orig).__name__}: {e.orig}".split())) from e


def validate(payload: Any, categories: Iterable[str], taught: bool = False) -> dict:
    """Check a contribution `{"word", "drawing", "consent": true, "contributor"?}` and
    return `{"word", "drawing", "contributor"}`; raises ContributionError otherwise.

    The word is one of `categories`, or with `taught` a word a class taught the AI
    (game/classroom/text.py cleans those), which must do as a file name (the export's
    `<word>.ndjson`): at most 64 characters, no slash, backslash or control character.
    The drawing must be Google's raw format: strokes `[[xs], [ys], [ts]]` of finite numbers,
    at most MAX_STROKES strokes and MAX_POINTS_PER_DRAWING points (the game's limits).
    """
    if not isinstance(payload, dict):
        raise ContributionError(400, _("the body must be a JSON object"))
    if payload.get("consent") is not True:
        raise ContributionError(422, _("consent is required: the drawing is published under CC BY 4.0"))
    word = payload.get("word")
    allowed = categories if isinstance(categories, (set, frozenset)) else set(categories)
    if not isinstance(word, str) or not (word in allowed or taught and _TAUGHT_WORD.fullmatch(word)):
        raise ContributionError(422, _("unknown word %(word)r", word=str(word)[:64]))
    return {"word": word, "drawing": _validate_drawing(payload.get("drawing")),
            "contributor": contributor_id(payload.get("contributor"))}


def contributor_id(value) -> str:
    """A client's anonymous contributor id, checked; None (API clients may send none, the
    pages always do) gets a new random one. Raises ContributionError when malformed."""
    if value is None:
        return new_contributor_id()
    if not isinstance(value, str) or not _CONTRIBUTOR.fullmatch(value):
        raise ContributionError(422, _("contributor must be 8 to 64 letters, digits, '-' or '_'"))
    return value


def _validate_drawing(drawing) -> list:
    if not isinstance(drawing, list):
        raise ContributionError(422, _("drawing must be a list of strokes [[xs], [ys], [ts]]"))
    if not drawing:
        raise ContributionError(422, _("the drawing is empty"))
    if len(drawing) > MAX_STROKES:
        raise ContributionError(422, _("a drawing holds at most %(max)s strokes", max=MAX_STROKES))
    total = 0
    for i, stroke in enumerate(drawing):
        if not isinstance(stroke, list) or len(stroke) != 3 or not all(isinstance(a, list) for a in stroke):
            raise ContributionError(422, _("stroke %(i)s must be [[xs], [ys], [ts]]", i=i))
        n = len(stroke[0])
        if len(stroke[1]) != n or len(stroke[2]) != n:
            raise ContributionError(422, _("stroke %(i)s: xs, ys and ts have different lengths", i=i))
        if n == 0:
            raise ContributionError(422, _("stroke %(i)s has no points", i=i))
        total += n
        if total > MAX_POINTS_PER_DRAWING:
            raise ContributionError(422, _("a drawing holds at most %(max)s points", max=MAX_POINTS_PER_DRAWING))
        for axis in stroke:
            if not finite_numbers(axis):
                raise ContributionError(422, _("stroke %(i)s: coordinates and times must be finite numbers of at most %(max)s in size",
                                               i=i, max=f"{MAX_COORDINATE:g}"))
        if min(stroke[2]) < 0:
            raise ContributionError(422, _("stroke %(i)s: times must not be negative", i=i))
    return drawing


def country_from_headers(headers) -> str:
    """The two-letter country a front proxy (Cloudflare's CF-IPCountry, or X-Country-Code)
    says the request came from, else "ZZ". A client can forge it; it is only a label."""
    for name in ("CF-IPCountry", "X-Country-Code", "X-AppEngine-Country"):
        code = (headers.get(name) or "").strip().upper()
        if _COUNTRY.fullmatch(code) and code not in _NOT_COUNTRIES:
            return code
    return UNKNOWN_COUNTRY


def new_contributor_id() -> str:
    return secrets.token_urlsafe(16)


def google_timestamp(moment: datetime) -> str:
    """Google's (BigQuery's) text form: "2017-03-28 15:28:18.12345 UTC"; the fraction
    drops trailing zeros and is absent when zero, as game/dataset/quickdraw.py reads it."""
    moment = moment.astimezone(timezone.utc)
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "") + " UTC"


def _dumps(value) -> str:
    """Compact JSON text of a drawing (validated or simplified: finite numbers only)."""
    return orjson.dumps(value).decode()


# --- the store ----------------------------------------------------------------


def default_url(instance_path: str | os.PathLike) -> str:
    """$DATABASE_URL, else an SQLite file in the app's instance folder."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{Path(instance_path) / DB_FILENAME}"


def normalize_url(url: str) -> str:
    """postgres:// and postgresql:// mean psycopg 3 (the driver installed), not psycopg2."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Store:
    """The contributions database. Thread-safe: each call takes a pooled connection."""

    def __init__(self, url: str):
        self.url = normalize_url(url)
        if self.url.startswith("sqlite"):
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            # timeout: writers wait for the lock (WAL allows one writer) instead of failing.
            self.engine = create_engine(self.url, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)
            if self.engine.dialect.name == "postgresql":
                event.listen(self.engine, "connect", _postgresql_session)
        try:
            with _database():
                upgrade(self.engine)
        except StoreUnavailable:
            self.engine.dispose()
            raise
        self._commits = _GroupCommit(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def add(self, record: dict, *, recognized: bool, countrycode: str = UNKNOWN_COUNTRY,
            status: str = OK, now: datetime | None = None, simplified: list | None = None) -> str:
        """Store a validated record (`validate`'s output); return its key_id. `simplified`:
        the drawing's simplification where the caller has it (the classifier made it),
        else made here by the shared ink pipeline."""
        now = now or datetime.now(timezone.utc)
        if simplified is None:
            simplified = ink.simplify(record["drawing"])
        row = {
            "word": record["word"], "countrycode": countrycode, "timestamp": google_timestamp(now),
            "recognized": bool(recognized), "drawing": _dumps(record["drawing"]),
            "simplified": _dumps(simplified), "contributor": record["contributor"],
            "status": _status(status), "created_at": now,
        }
        with _database():
            return self._commits.write(row)

    def get(self, key_id: str) -> dict | None:
        with _database(), self.engine.connect() as conn:
            row = conn.execute(select(TABLE).where(TABLE.c.key_id == str(key_id))).mappings().first()
        return _record(row) if row else None

    def newest(self, word: str, limit: int = 50, offset: int = 0, recognized: bool | None = None,
               status: str | None = None) -> list[dict]:
        """A word's drawings, newest first, every status unless `status` is given."""
        query = select(TABLE).where(TABLE.c.word == word)
        if recognized is not None:
            query = query.where(TABLE.c.recognized == bool(recognized))
        if status is not None:
            query = query.where(TABLE.c.status == _status(status))
        query = query.order_by(TABLE.c.id.desc()).limit(limit).offset(offset)
        with _database(), self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query).mappings()]

    def counts(self, status: str | None = OK) -> dict[str, int]:
        """Drawings per word (only `status` ones; None: all), words in alphabetical order."""
        query = select(TABLE.c.word, func.count()).group_by(TABLE.c.word).order_by(TABLE.c.word)
        if status is not None:
            query = query.where(TABLE.c.status == _status(status))
        with _database(), self.engine.connect() as conn:
            return {word: n for word, n in conn.execute(query)}

    def count(self, word: str, recognized: bool | None = None, status: str | None = OK) -> int:
        """How many drawings of `word` (only `status` ones; None: all), optionally only the
        recognized (True) or the not recognized (False) ones: the browser's page count."""
        query = select(func.count()).select_from(TABLE).where(TABLE.c.word == word)
        if status is not None:
            query = query.where(TABLE.c.status == _status(status))
        if recognized is not None:
            query = query.where(TABLE.c.recognized == bool(recognized))
        with _database(), self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def set_status(self, key_id: str, status: str) -> bool:
        """Reject or restore a drawing; False when no drawing has that key_id."""
        with _database(), self.engine.begin() as conn:
            result = conn.execute(update(TABLE).where(TABLE.c.key_id == str(key_id))
                                  .values(status=_status(status)))
        return result.rowcount > 0

    def delete(self, key_id: str) -> bool:
        with _database(), self.engine.begin() as conn:
            result = conn.execute(delete(TABLE).where(TABLE.c.key_id == str(key_id)))
        return result.rowcount > 0

    def iter_export(self, word: str | None = None, fmt: str = "raw") -> Iterator[dict]:
        """Google's ndjson records (FIELDS, in order) of the drawings not rejected, by word
        then insertion order; `fmt` picks the raw or the simplified drawing."""
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        drawing = TABLE.c.drawing if fmt == "raw" else TABLE.c.simplified
        query = (select(TABLE.c.word, TABLE.c.countrycode, TABLE.c.timestamp, TABLE.c.recognized,
                        TABLE.c.key_id, drawing).where(TABLE.c.status == OK)
                 .order_by(TABLE.c.word, TABLE.c.id))
        if word is not None:
            query = query.where(TABLE.c.word == word)
        with _database(), self.engine.connect() as conn:
            # Streamed in chunks: an export may be far larger than memory.
            for row in conn.execution_options(yield_per=1000).execute(query):
                yield dict(zip(FIELDS, (*row[:3], bool(row[3]), row[4], json.loads(row[5]))))


class _Pending:
    __slots__ = ("row", "woken", "writer", "ok", "error")

    def __init__(self, row: dict):
        self.row, self.woken, self.writer, self.ok, self.error = row, threading.Event(), False, False, None


class _GroupCommit:
    """Group commit: rows added concurrently are inserted in one transaction and share its
    commit (an fsync, a few ms: one a row would cap SQLite near 300 rows/s on this disk).

    No thread of its own: a caller that finds no commit in progress becomes the writer. It
    takes everything queued (up to `max_batch` rows, its own first), commits it, wakes the
    callers whose rows were in it and hands the writer's role to the oldest row still
    queued. Each waiting caller is woken once, either way (waking every waiter at every
    commit took 5 % of the server process's GIL time at 500 contributions a second). A caller
    returns only once its row's transaction has committed, and raises if it did not."""

    def __init__(self, engine: Engine, max_batch: int = 500):
        self.engine, self.max_batch = engine, max_batch
        self._queue: list[_Pending] = []
        self._writing = False
        self._lock = threading.Lock()

    def write(self, row: dict) -> str:
        """Insert `row` (its key_id drawn here); return the key_id once committed."""
        row["key_id"] = _new_key_id()
        entry = _Pending(row)
        with self._lock:
            self._queue.append(entry)
            entry.writer, self._writing = not self._writing, True
        if not entry.writer:
            entry.woken.wait()  # committed (or failed), or made the writer
        if entry.writer:
            self._write_batch()
        if entry.error is not None:
            raise entry.error
        return row["key_id"]

    def _write_batch(self) -> None:
        with self._lock:
            batch = self._queue[:self.max_batch]
            del self._queue[:self.max_batch]
        try:
            self._commit(batch)
        finally:
            for e in batch:
                if not e.ok and e.error is None:
                    e.error = RuntimeError("the contribution was not committed")
            with self._lock:
                successor = self._queue[0] if self._queue else None
                if successor is not None:
                    successor.writer = True
                self._writing = successor is not None
            for e in batch:
                e.woken.set()
            if successor is not None:
                successor.woken.set()

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(TABLE), [e.row for e in batch])
        except IntegrityError:
            # A key_id clash (1 in 2^64) fails the whole transaction: redo each row alone.
            for e in batch:
                self._commit_one(e)
            return
        except Exception as exc:
            for e in batch:
                e.error = exc
            return
        for e in batch:
            e.ok = True

    def _commit_one(self, entry: _Pending) -> None:
        try:
            for _attempt in range(3):
                try:
                    with self.engine.begin() as conn:
                        conn.execute(insert(TABLE), entry.row)
                    entry.ok = True
                    return
                except IntegrityError:
                    with self.engine.connect() as conn:
                        taken = conn.execute(select(TABLE.c.id).where(TABLE.c.key_id == entry.row["key_id"])).first()
                    if taken is None:
                        raise  # not a key_id clash
                    entry.row["key_id"] = _new_key_id()  # draw again
            raise RuntimeError("could not draw an unused key_id")
        except Exception as exc:
            entry.error = exc


def _new_key_id() -> str:
    return str(secrets.randbits(64))


def _status(status: str) -> str:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    return status


def _record(row) -> dict:
    record = {name: row[name] for name in FIELDS}
    record["recognized"] = bool(record["recognized"])
    record["drawing"] = json.loads(record["drawing"])
    record.update(simplified=json.loads(row["simplified"]), contributor=row["contributor"],
                  status=row["status"], created_at=row["created_at"])
    return record


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """Each new SQLite connection: a rollback journal, emptied at each commit (TRUNCATE), and
    synchronous=FULL (a commit is on disk before it returns, power loss included).

    Not WAL: its index is the -shm file mapped into memory, and a write to a mapped page that
    the file cannot take (made immutable, a disk gone read-only) is a SIGBUS that ends the
    whole server; WAL with locking_mode=EXCLUSIVE keeps that index in memory but shuts out
    every other connection (the pool's, `python -m game.dataset.store export`). A journal
    is written with write(2), whose failures are errors. The price: a commit syncs three
    times rather than once, and readers and the writer wait for each other's moment."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=TRUNCATE")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


# pg_advisory_xact_lock's key for migrations: any constant 64-bit number ("doodle" in ASCII).
_MIGRATION_LOCK = 0x646F6F646C65


def _postgresql_session(dbapi_connection, connection_record) -> None:
    """Each new PostgreSQL connection: a commit waits until its WAL is flushed to disk, even
    where the server or database defaults to synchronous_commit=off (a 201 means kept).
    Stronger settings (remote_write, remote_apply for replicas) are left as they are."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SHOW synchronous_commit")
    if cursor.fetchone()[0] == "off":
        cursor.execute("SET synchronous_commit TO on")
    cursor.close()
    dbapi_connection.commit()  # psycopg opened a transaction for SHOW; end it


def alembic_config():
    from alembic.config import Config

    config = Config()  # no alembic.ini: the one setting is where the scripts are
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (Alembic, game/dataset/migrations/)."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several servers may open one fresh database at once: without a lock their
            # migrations race (CREATE TABLE alembic_version twice; seen to hang or fail).
            # The lock is the transaction's: the first migrates, the others then find head.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


# --- export -------------------------------------------------------------------


EXPORT_MANIFEST = ".doodle-lab-export.json"  # which words an export wrote into its folder


def export(store: Store, out: str | os.PathLike, fmt: str = "raw") -> dict[str, int]:
    """Write `<word>.ndjson` per word into `out`, in Google's exact format; return the
    counts. Each file is written beside and renamed into place, so none is half-written.

    Exporting again into the same folder brings it up to date: a word left with no drawing
    to export (all rejected or deleted since) loses its old file, which training would
    otherwise still read. The folder's manifest (EXPORT_MANIFEST) says which files an
    export wrote; ndjson files it does not list are someone else's, and the export refuses
    to mix with them (ValueError) rather than delete or shadow them."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / EXPORT_MANIFEST
    try:
        earlier = set(json.loads(manifest.read_text(encoding="utf-8"))["words"]) if manifest.exists() else set()
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{manifest} is not a Doodle Lab export manifest; export into an empty folder") from None
    strangers = sorted(p.name for p in out.glob("*.ndjson") if p.stem not in earlier)
    if strangers:
        raise ValueError(f"{out} holds ndjson files that no export wrote ({', '.join(strangers[:3])}"
                         f"{', ...' if len(strangers) > 3 else ''}); export into an empty folder")
    counts: dict[str, int] = {}
    for word, records in itertools.groupby(store.iter_export(fmt=fmt), key=itemgetter("word")):
        part = out / f".{word}.ndjson.part"
        try:
            with open(part, "w", encoding="utf-8", newline="\n") as f:
                counts[word] = 0
                for record in records:
                    f.write(json.dumps(record, separators=(",", ":")) + "\n")
                    counts[word] += 1
            os.replace(part, out / f"{word}.ndjson")
        finally:
            part.unlink(missing_ok=True)
    for word in earlier - set(counts):
        (out / f"{word}.ndjson").unlink(missing_ok=True)
    part = out / f"{EXPORT_MANIFEST}.part"
    part.write_text(json.dumps({"format": fmt, "words": sorted(counts), "drawings": sum(counts.values()),
                                "exported_at": google_timestamp(datetime.now(timezone.utc))}, indent=1),
                    encoding="utf-8")
    os.replace(part, manifest)
    return counts
