"""Dagster's SQLite event log, with one transaction per database for a batch of events.

A range run (the first load of two years, a back-fill) materializes every extract asset once per
day of the range, and Dagster records one event per asset and partition: 17 tables × 682 days is
11,600 materializations. Dagster's own SQLite event log writes each of them with a new engine, a new
connection and a commit to the run's database and again to the index database — about 15 ms each
on this machine, minutes for a first load, against seconds of extraction.

Dagster already groups such events (``DagsterEventBatchMetadata``) and hands a group to
``store_event_batch`` when the environment variable ``DAGSTER_EVENT_BATCH_SIZE`` is above 0 (this
storage sets it to ``EVENT_BATCH_SIZE`` in the process that opens it, unless it is set already, so
runs launched from the UI batch too); its own SQLite storage then writes one event at a time anyway. This storage keeps Dagster's tables, files and
per-event logic (``store_event``) and only changes how they reach the disk:

* ``store_event_batch`` stores every event of the batch through one connection per database
  (the run's shard, the index shard), committed once at the end. If anything fails, both
  transactions are rolled back and Dagster stores the events one by one (its documented fallback);
* one engine per database file, reused (Dagster creates and disposes one per event);
* ``PRAGMA synchronous = NORMAL`` on its connections: with the WAL journal Dagster uses, a commit no
  longer waits for the disk; an operating-system crash can lose the last transactions of the event
  log (never the warehouse, which does not live here), an application crash cannot.

Configured in ``dagster.yaml`` as the ``event_log_storage`` (``Settings.export_dagster_home``) with
Dagster's default folder, so an existing instance keeps its history.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

#: Events Dagster buffers before handing them to ``store_event_batch`` (its DAGSTER_EVENT_BATCH_SIZE).
EVENT_BATCH_SIZE = 1000
#: Seconds a connection waits for another process's lock (Dagster's value for its SQLite storages).
BUSY_TIMEOUT_S = 30


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` whose event batches are one transaction per database."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._engines: dict[str, Engine] = {}
        self._engines_lock = threading.Lock()
        self._batch = threading.local()  # .conns: shard -> open connection, while a batch is stored
        super().__init__(base_dir, inst_data)
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> BatchedSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is None:
                engine = create_engine(self.conn_string_for_shard(shard), poolclass=NullPool,
                                       connect_args={"timeout": BUSY_TIMEOUT_S})
                event.listen(engine, "connect", _fast_commits)
                self._engines[shard] = engine
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        conns: dict[str, Connection] | None = getattr(self._batch, "conns", None)
        if conns is not None:  # inside store_event_batch (this thread): its open transaction
            if shard not in conns:
                conns[shard] = self._open(shard)
            yield conns[shard]
            return
        with self._db_lock:
            engine = self._open_engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _open_engine(self, shard: str) -> Engine:
        engine = self._engine(shard)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        return engine

    def _open(self, shard: str) -> Connection:
        with self._db_lock:
            conn = self._open_engine(shard).connect()
        conn.begin()
        return conn

    def store_event_batch(self, events: Sequence[Any]) -> None:
        if len(events) < 2 or getattr(self._batch, "conns", None) is not None:
            super().store_event_batch(events)
            return
        conns: dict[str, Connection] = {}
        self._batch.conns = conns
        try:
            for entry in events:
                self.store_event(entry)
            for conn in conns.values():
                conn.commit()
        except BaseException:
            for conn in conns.values():
                conn.rollback()
            raise
        finally:
            self._batch.conns = None
            for conn in conns.values():
                conn.close()

    def dispose(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
        super().dispose()


def _fast_commits(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()
