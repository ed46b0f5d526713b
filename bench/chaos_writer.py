"""The application during a chaos run: bench.writer's insert and update every few ms, each insert with an id
of its own recorded once its commit came back (the rows no fault may lose), through whatever the campaign
does to the server (a lost connection is made again, the wait counted as the write's stall). Every 20th
write also tries an orphan into a key's table and reports it if that key was in force then."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg
from psycopg import errors

from bench.writer import WRITE, Writer
from fkguard.errors import SettingsError

INSERT = ("INSERT INTO workflow_stages (id, workflow_instance_id, stage_number, stage_name) "
          "VALUES (%(id)s, md5('wi:' || %(n)s)::uuid::text, 99, 'chaos writer')")
UPDATE = WRITE[1]  # bench.writer's update of a referenced row
# (the table an orphan goes into, the insert, the key that must refuse it while pg_constraint has it there)
PROBES = [
    ("workflow_stages", "INSERT INTO workflow_stages (id, workflow_instance_id, stage_number, stage_name) "
     "VALUES (%(id)s, 'no-such-instance', 99, 'chaos orphan probe')", "fk_workflow_stages_workflow_instance"),
    ("stage_events_2024", "INSERT INTO stage_events VALUES (0, 'no-such-workspace', '2024-07-01', 'us')",
     "fk_stage_events_workspace"),
]
# The probe reads pg_constraint while its insert still holds ROW EXCLUSIVE on the table, which every ADD or
# DROP CONSTRAINT there conflicts with: what it reads is what the insert met.
IN_FORCE = "SELECT EXISTS (SELECT FROM pg_constraint WHERE conname = %s AND conrelid = %s::regclass)"
PROBE_EVERY = 20


@dataclass(eq=False)
class ChaosWriter(Writer):
    prefix: str = "chaos"
    committed: list[str] = field(default_factory=list)  # ids whose insert's commit returned
    admitted: list[str] = field(default_factory=list)  # orphans a key in force let in
    reconnects: int = 0
    failure: str = ""  # what stopped it, when something other than a lost connection did

    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001  (the run reports it; a thread's exception would vanish)
            self.failure = f"the writer stopped: {type(exc).__name__}: {exc}"

    def _loop(self) -> None:
        n = 0
        conn: psycopg.Connection | None = None
        next_at = time.monotonic()
        while not self._halt.is_set():
            n += 1
            started = time.monotonic()
            while not self._halt.is_set():
                try:
                    conn = conn if conn is not None and not conn.broken else self._connect()
                    self._write(conn, n)
                    break
                except (psycopg.OperationalError, SettingsError):
                    conn = None  # the server restarted or ended this session: make another
                    time.sleep(0.05)
            self.samples.append((started, (time.monotonic() - started) * 1000))
            next_at = max(next_at + self.interval, time.monotonic() - 1)
            time.sleep(max(0.0, next_at - time.monotonic()))
        if conn is not None:
            conn.close()

    def _connect(self) -> psycopg.Connection:
        self.reconnects += 1
        return self.settings.connect(application_name="chaos-writer")

    def _write(self, conn: psycopg.Connection, n: int) -> None:
        row = f"{self.prefix}-{n}"
        if self.committed[-1:] != [row]:  # a retry after a lost connection may find its insert committed
            try:
                conn.execute(INSERT, {"id": row, "n": 1 + n % self.instances})
            except errors.UniqueViolation:
                pass  # it was: the commit landed before the connection went
            self.committed.append(row)
        conn.execute(UPDATE, {"n": 1 + n % self.instances})
        if n % PROBE_EVERY == 0:
            self._probe(conn, *PROBES[(n // PROBE_EVERY) % len(PROBES)], row)

    def _probe(self, conn: psycopg.Connection, table: str, insert: str, key: str, row: str) -> None:
        with conn.transaction(force_rollback=True):
            try:
                with conn.transaction():
                    conn.execute(insert, {"id": f"{row}-orphan"} if "%(id)s" in insert else None)
            except errors.ForeignKeyViolation:
                return
            if conn.execute(IN_FORCE, (key, f"public.{table}")).fetchone() == (True,):
                self.admitted.append(f"{table}: an orphan passed {key}")


def lost(conn: psycopg.Connection, writer: ChaosWriter) -> list[str]:
    """The committed rows no longer in the table."""
    present = {r for (r,) in conn.execute("SELECT id FROM workflow_stages WHERE id = ANY(%s)", (writer.committed,))}
    return [r for r in writer.committed if r not in present]


def forget(conn: psycopg.Connection) -> None:
    """The writer's rows go after each run, so the tables stay the campaign's small size."""
    conn.execute("DELETE FROM workflow_stages WHERE stage_name = 'chaos writer'")
