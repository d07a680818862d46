"""Throwaway PostgreSQL clusters for the tests (issue 14: PostgreSQL besides SQLite).

A :class:`Cluster` is a whole PostgreSQL server of its own: ``initdb`` into a fresh temporary
directory, started with ``pg_ctl`` on a free loopback port (and a unix socket in that
directory), trust authentication for everyone, and removed with its directory afterwards. No
network beyond 127.0.0.1, no system service, nothing shared with another test run::

    with Cluster() as cluster:                  # initdb, then started (pg_ctl waits)
        cluster.create_database("app", template="tally_template")
        url = cluster.url("app")                # postgresql://postgres@127.0.0.1:PORT/app
        cluster.execute("SELECT 1", dbname="app")   # psycopg; cluster.psql(...) runs psql
    # stopped and deleted here

By default the cluster trades durability for speed (``fsync``, ``synchronous_commit`` and
``full_page_writes`` off): a crash may lose or corrupt its data, which a throwaway test database
never needs. ``Cluster(durable=True)`` keeps PostgreSQL's defaults, for the crash and failover
tests. Streaming replication, for those tests too::

    with Cluster(durable=True) as primary, primary.make_standby() as standby:
        primary.execute("CREATE TABLE t (x int)")
        primary.wait_for_replay(standby)        # the standby has replayed it
        primary.set_synchronous_standby_names(standby.name)   # commits now wait for it
        primary.stop(mode="immediate")          # a crash
        standby.promote()                       # the standby takes writes

The binaries are found by :func:`find_bindir` (``TALLY_PG_BINDIR``, else the newest
``/usr/lib/postgresql/*/bin``, ...); Debian's ``postgresql`` package provides them (``make
system`` installs it), and :class:`PostgresNotFound` says so when they are missing. ``initdb``
and ``postgres`` refuse to run as root: as root, every server program runs as the ``postgres``
system user (which owns the temporary directory); as anyone else, as that user. Clusters still
running when the interpreter exits are stopped and deleted (``atexit``); only a killed process
leaves one behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

#: The programs a cluster needs, all from one PostgreSQL installation.
PROGRAMS = ("initdb", "pg_ctl", "postgres", "psql", "pg_basebackup")
#: The oldest major version with everything used here (``DROP DATABASE ... WITH (FORCE)``).
MIN_VERSION = 13
#: The system user the server programs run as when the tests run as root.
ROOT_RUNS_AS = "postgres"
#: Seconds to wait for a start, stop, promotion or replication before giving up.
TIMEOUT = 60

_NOT_DURABLE = {"fsync": False, "synchronous_commit": False, "full_page_writes": False}


class PostgresNotFound(RuntimeError):
    """No PostgreSQL server installation (initdb, pg_ctl, postgres, ...) was found."""


class ClusterError(RuntimeError):
    """A PostgreSQL program failed; the message has its output and the server log's tail."""


# --- finding the binaries ------------------------------------------------------------------

def _version_key(path: Path) -> tuple[int, ...]:
    """(15,) for /usr/lib/postgresql/15/bin, (16, 2) for /usr/pgsql-16.2/bin: newest first."""
    return tuple(int(n) for n in re.findall(r"\d+", str(path)))


def _complete(bindir: Path) -> bool:
    return all(os.access(bindir / program, os.X_OK) for program in PROGRAMS)


def _candidates() -> Iterator[Path]:
    # Debian/Ubuntu keep each major version apart; their /usr/bin/psql and pg_config are
    # wrappers (postgresql-common), and pg_config may be libpq-dev's, pointing at /usr/bin.
    for pattern in ("usr/lib/postgresql/*/bin", "usr/pgsql-*/bin"):
        yield from sorted(Path("/").glob(pattern), key=_version_key, reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
            if out:
                yield Path(out).resolve()
    # initdb on PATH (often a symlink, e.g. /usr/local/bin/initdb): the directory it resolves to.
    initdb = shutil.which("initdb")
    if initdb:
        yield Path(initdb).resolve().parent


def find_bindir() -> Path:
    """The ``bin`` directory of the newest PostgreSQL server installation found.

    ``TALLY_PG_BINDIR`` chooses one explicitly. Otherwise, in this order: the newest
    ``/usr/lib/postgresql/*/bin`` (Debian, Ubuntu), the newest ``/usr/pgsql-*/bin`` (PGDG RPMs),
    ``pg_config --bindir``, and the directory ``initdb`` on ``PATH`` resolves to. The directory
    must hold every program in :data:`PROGRAMS`. Raises :class:`PostgresNotFound` otherwise.
    """
    explicit = os.environ.get("TALLY_PG_BINDIR")
    if explicit:
        if not _complete(Path(explicit)):
            raise PostgresNotFound(
                f"TALLY_PG_BINDIR={explicit} does not hold all of {', '.join(PROGRAMS)}")
        return Path(explicit)
    for bindir in _candidates():
        if _complete(bindir):
            return bindir
    raise PostgresNotFound(
        "PostgreSQL is not installed: the tests start their own throwaway server and need "
        f"its programs ({', '.join(PROGRAMS)}). On Debian/Ubuntu run `make system` or "
        "`apt-get install postgresql`; elsewhere set TALLY_PG_BINDIR to the directory that "
        "holds initdb.")


def server_version(bindir: Path) -> tuple[int, ...]:
    """(15, 18) from ``pg_ctl --version`` ("pg_ctl (PostgreSQL) 15.18 (Debian ...)")."""
    out = subprocess.run([str(bindir / "pg_ctl"), "--version"], capture_output=True,
                         text=True, check=True, timeout=10).stdout
    match = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", out)
    if not match:
        raise PostgresNotFound(f"{bindir / 'pg_ctl'} --version: unexpected answer {out!r}")
    return tuple(int(n) for n in match.groups() if n is not None)


# --- helpers -------------------------------------------------------------------------------

def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (a start retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _conf_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    """A quoted SQL identifier (database names in psql commands)."""
    return '"' + name.replace('"', '""') + '"'


#: Started clusters not yet cleaned up (strong references: a forgotten one still gets stopped).
_live: set[Cluster] = set()


@atexit.register
def _cleanup_all() -> None:
    for cluster in list(_live):
        with contextlib.suppress(Exception):
            cluster.cleanup()


# --- the cluster ---------------------------------------------------------------------------

class Cluster:
    """A throwaway PostgreSQL cluster in a temporary directory (see the module's docstring).

    ``Cluster()`` runs initdb (UTF8, locale C, trust authentication, superuser ``user``) and
    writes the configuration; :meth:`start` (or ``with``) starts it. ``durable=False`` turns
    ``fsync``, ``synchronous_commit`` and ``full_page_writes`` off; ``settings`` adds or
    overrides server settings (``{"max_connections": 20}``). ``name`` becomes the server's
    ``cluster_name`` (in process titles and, for a standby, the name ``synchronous_standby_names``
    matches). ``tmp_root`` is where the temporary directory goes (the system's default; keep it
    short, the unix socket's path must fit in 107 bytes).

    Attributes: ``base`` (the temporary directory, also the unix socket directory), ``data``
    (the data directory), ``log_path`` (the server log), ``port``, ``host`` (127.0.0.1),
    ``user``, ``bindir``, ``version``, ``standbys`` (made by :meth:`make_standby`).
    """

    host = "127.0.0.1"

    def __init__(self, *, durable: bool = False, name: str = "tally",
                 settings: Mapping[str, Any] | None = None, user: str = "postgres",
                 bindir: str | os.PathLike | None = None,
                 tmp_root: str | os.PathLike | None = None) -> None:
        self._setup(durable=durable, name=name, settings=settings, user=user, bindir=bindir,
                    tmp_root=tmp_root)
        try:
            self._run(["initdb", "-D", self.data, "--auth=trust", "--encoding=UTF8",
                       "--locale=C", f"--username={self.user}", "--no-sync"])
            self._write_hba()
            self._configure(self._settings())
        except BaseException:
            self.cleanup()
            raise

    def _setup(self, *, durable, name, settings, user, bindir, tmp_root) -> None:
        self.bindir = Path(bindir) if bindir else find_bindir()
        self.version = server_version(self.bindir)
        if self.version[0] < MIN_VERSION:
            raise PostgresNotFound(
                f"PostgreSQL {MIN_VERSION} or newer is needed; {self.bindir} holds "
                f"{'.'.join(map(str, self.version))}")
        self.durable = durable
        self.name = name
        self.user = user
        self.extra_settings = dict(settings or {})
        self.standbys: list[Cluster] = []
        self.port = free_port()
        self._running = False
        self._removed = False
        self._owner = self._run_as()
        prefix = "pg-" + re.sub(r"[^\w-]", "", name)[:20] + "-"
        self.base = Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_root))
        if self._owner:
            os.chown(self.base, self._owner.pw_uid, self._owner.pw_gid)
        self.data = self.base / "data"
        self.log_path = self.base / "server.log"
        if len(str(self.base / f".s.PGSQL.{self.port}")) > 107:
            self.cleanup()
            raise ClusterError(f"the unix socket path under {self.base} is too long; "
                               "pass a shorter tmp_root")

    @staticmethod
    def _run_as() -> pwd.struct_passwd | None:
        """The system user to run the server programs as: None to run them as ourselves."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(ROOT_RUNS_AS)
        except KeyError:
            raise ClusterError(
                f"running as root, but initdb and postgres refuse root and there is no "
                f"{ROOT_RUNS_AS!r} user to run them as (Debian's postgresql package creates "
                "it); run the tests as an ordinary user or create it") from None

    # --- running programs ---

    def _env(self) -> dict[str, str]:
        # No PG* variable of the caller's (PGDATA, PGHOST, PGPORT, PGSERVICE...) may steer us.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", PGCLIENTENCODING="UTF8")
        if self._owner:
            env.update(HOME=str(self.base), USER=self._owner.pw_name,
                       LOGNAME=self._owner.pw_name)
        return env

    def _run(self, args: list, *, check: bool = True, as_owner: bool = True,
             timeout: float = TIMEOUT + 30) -> subprocess.CompletedProcess:
        """Run ``bindir/args[0]`` (as the postgres user when we are root), its output captured;
        a failure raises :class:`ClusterError` with that output and the server log's tail."""
        command = [str(self.bindir / args[0]), *map(str, args[1:])]
        owner = self._owner if as_owner else None
        kwargs: dict[str, Any] = {}
        if owner:
            kwargs.update(user=owner.pw_uid, group=owner.pw_gid, extra_groups=[])
        result = subprocess.run(command, capture_output=True, text=True, env=self._env(),
                                cwd=self.base, timeout=timeout, check=False, **kwargs)
        if check and result.returncode != 0:
            raise ClusterError(
                f"{' '.join(command)} exited with {result.returncode}\n"
                f"{result.stdout}{result.stderr}{self._log_tail()}")
        return result

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"--- {self.log_path} (last {len(text)} lines) ---\n" + "\n".join(text)

    # --- configuration ---

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "listen_addresses": self.host,
            "port": self.port,
            "unix_socket_directories": str(self.base),
            "cluster_name": self.name,
            # For make_standby(): the primary streams its WAL to a standby (replication slots
            # keep it until the standby has it); hot_standby lets the standby answer queries.
            "wal_level": "replica",
            "max_wal_senders": 10,
            "max_replication_slots": 10,
            "hot_standby": True,
            "log_min_messages": "warning",
            "log_line_prefix": "%m [%p] %q%u@%d ",
        }
        if not self.durable:
            settings.update(_NOT_DURABLE)
        settings.update(self.extra_settings)
        return settings

    def _configure(self, settings: Mapping[str, Any]) -> None:
        """Append ``settings`` to postgresql.conf (a later line wins over an earlier one)."""
        lines = [f"{key} = {_conf_value(value)}" for key, value in settings.items()]
        with open(self.data / "postgresql.conf", "a") as conf:  # keeps its owner
            conf.write("\n# tests/pgcluster.py\n" + "\n".join(lines) + "\n")

    def _write_hba(self) -> None:
        """Trust everyone on the unix socket and 127.0.0.1, for databases and replication."""
        (self.data / "pg_hba.conf").write_text(
            "# tests/pgcluster.py: a throwaway cluster on loopback, trust for all\n"
            "local all all trust\n"
            "host all all 127.0.0.1/32 trust\n"
            "local replication all trust\n"
            "host replication all 127.0.0.1/32 trust\n")

    # --- lifecycle ---

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> Cluster:
        """Start the server and wait until it accepts connections (a standby: read-only ones).
        Moves to another free port and retries when its port was taken meanwhile."""
        if self._running:
            return self
        for attempt in range(5):
            result = self._run(["pg_ctl", "start", "-D", self.data, "-l", self.log_path,
                                "-w", "-t", TIMEOUT], check=False)
            if result.returncode == 0:
                self._running = True
                _live.add(self)
                return self
            if attempt < 4 and "could not bind" in self._log_tail(10):
                self.port = free_port()
                self._configure({"port": self.port})
                continue
            raise ClusterError(f"pg_ctl start failed ({result.returncode})\n"
                               f"{result.stdout}{result.stderr}{self._log_tail()}")
        raise AssertionError("unreachable")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (disconnects clients, a clean shutdown with a checkpoint),
        ``smart`` (waits for the clients) or ``immediate`` (no checkpoint: a crash, the next
        start recovers from the WAL)."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"stop mode {mode!r}: smart, fast or immediate")
        if not self._running:
            return
        self._run(["pg_ctl", "stop", "-D", self.data, "-m", mode, "-w", "-t", TIMEOUT])
        self._running = False

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def reload(self) -> None:
        """Re-read the configuration files (``pg_reload_conf()``)."""
        self.execute("SELECT pg_reload_conf()")

    def cleanup(self) -> None:
        """Stop it (immediately: the data is thrown away) and its standbys, remove the
        directory. Safe to call twice."""
        for standby in self.standbys:
            standby.cleanup()
        if self._running or (getattr(self, "data", None) and
                             (self.data / "postmaster.pid").exists()):
            with contextlib.suppress(ClusterError, subprocess.SubprocessError):
                self._run(["pg_ctl", "stop", "-D", self.data, "-m", "immediate", "-w",
                           "-t", TIMEOUT])
            self._running = False
        if getattr(self, "base", None) and not self._removed:
            shutil.rmtree(self.base, ignore_errors=True)
            self._removed = True
        _live.discard(self)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<Cluster {self.name} {self.host}:{self.port} {state} {self.base}>"

    # --- SQL ---

    def url(self, dbname: str = "postgres") -> str:
        """``postgresql://USER@127.0.0.1:PORT/DBNAME`` (trust: no password)."""
        return (f"postgresql://{quote(self.user, safe='')}@{self.host}:{self.port}/"
                f"{quote(dbname, safe='')}")

    def connect(self, dbname: str = "postgres", **kwargs):
        """A psycopg connection to ``dbname`` (``kwargs`` go to ``psycopg.connect``)."""
        import psycopg

        return psycopg.connect(self.url(dbname), **kwargs)

    def execute(self, sql, params: Any = None, *, dbname: str = "postgres") -> list[tuple]:
        """Run one statement with psycopg in autocommit mode (so CREATE DATABASE works too);
        its rows, or [] for a statement without any."""
        with self.connect(dbname, autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def psql(self, sql: str, *, dbname: str = "postgres") -> str:
        """Run ``sql`` (one or more statements) with the psql of this installation through the
        unix socket, stopping at the first error; its output unaligned, tuples only."""
        return self._run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                          "-h", self.base, "-p", self.port, "-U", self.user, "-d", dbname,
                          "-c", sql], as_owner=False).stdout

    def create_database(self, name: str, template: str | None = None) -> None:
        """``CREATE DATABASE name [TEMPLATE template]``: a copy of ``template`` (which nobody may
        be connected to meanwhile), else of template1."""
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self.execute(statement)

    def drop_database(self, name: str) -> None:
        """Drop it if it exists, disconnecting whoever is still connected to it."""
        from psycopg import sql

        self.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                     .format(sql.Identifier(name)))

    # --- replication ---

    def make_standby(self, name: str = "standby", *, durable: bool | None = None,
                     settings: Mapping[str, Any] | None = None) -> Cluster:
        """A streaming-replication standby of this (running) cluster, started: ``pg_basebackup
        -R`` through a physical replication slot named after it, in a temporary directory of its
        own. ``durable`` defaults to this cluster's. It is cleaned up with this one too."""
        if not self._running:
            raise ClusterError(f"{self!r}: start the primary before making a standby")
        standby = Cluster.__new__(Cluster)
        standby._setup(durable=self.durable if durable is None else durable, name=name,
                       settings=settings, user=self.user, bindir=self.bindir,
                       tmp_root=self.base.parent)
        try:
            slot = re.sub(r"\W", "_", name.lower())
            standby._run(["pg_basebackup", "-D", standby.data, "-R", "-X", "stream",
                          "-C", "-S", slot, "-c", "fast", "--no-sync",
                          "-d", f"host={self.host} port={self.port} user={self.user}"])
            # A synchronous_standby_names set on the primary (ALTER SYSTEM) came along in
            # postgresql.auto.conf: after a promotion, the standby would wait for a standby of
            # its own at every commit.
            auto = standby.data / "postgresql.auto.conf"
            auto.write_text("".join(line for line in auto.read_text().splitlines(True)
                                    if not line.startswith("synchronous_standby_names")))
            standby._configure(standby._settings())
            standby.start()
        except BaseException:
            standby.cleanup()
            raise
        self.standbys.append(standby)
        return standby

    def promote(self) -> None:
        """Make this standby a primary (``pg_ctl promote``, waiting until it takes writes)."""
        self._run(["pg_ctl", "promote", "-D", self.data, "-w", "-t", TIMEOUT])

    def in_recovery(self) -> bool:
        """True for a standby (``pg_is_in_recovery()``)."""
        return self.execute("SELECT pg_is_in_recovery()")[0][0]

    def wait_for_replay(self, standby: Cluster, timeout: float = TIMEOUT) -> None:
        """Wait until ``standby`` has replayed everything committed on this primary so far."""
        # With synchronous_commit off, the last commits may not be written out yet (the WAL
        # writer does it within wal_writer_delay, and pg_current_wal_lsn() is only what was
        # written). A transaction of our own that writes WAL (a transactional logical message)
        # and commits with a local flush writes everything before it out too; the flushed WAL's
        # end is then where the standby must get to.
        with self.connect() as conn:
            conn.execute("SET LOCAL synchronous_commit = local")
            conn.execute("SELECT pg_logical_emit_message(true, 'tests/pgcluster.py', '')")
            conn.commit()
            target = conn.execute("SELECT pg_current_wal_flush_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout
        while not standby.execute(
                "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s::pg_lsn) >= 0",
                (target,))[0][0]:
            if time.monotonic() > deadline:
                raise ClusterError(f"{standby!r} has not replayed up to {target} in {timeout} s"
                                   f"\n{standby._log_tail()}")
            time.sleep(0.02)

    def set_synchronous_standby_names(self, names: str, *, synchronous_commit: str | None = None,
                                      wait: bool = True, timeout: float = TIMEOUT) -> None:
        """Set ``synchronous_standby_names`` (``ALTER SYSTEM``) and reload: commits then wait
        for those standbys (a standby's name is its ``name``, its ``cluster_name``); "" turns
        it off. Commits wait only when ``synchronous_commit`` is on, ``remote_write`` or
        ``remote_apply`` (``remote_apply``: the row is visible on the standby when the commit
        returns); a cluster that is not durable has it off, so pass it here or set it in the
        session. With ``wait``, returns once a standby is synchronous in
        ``pg_stat_replication``. A commit with no synchronous standby connected waits forever.
        """
        from psycopg import sql

        self.execute(sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}")
                     .format(sql.Literal(names)))
        if synchronous_commit is not None:
            self.execute(sql.SQL("ALTER SYSTEM SET synchronous_commit = {}")
                         .format(sql.Literal(synchronous_commit)))
        self.reload()
        if not (wait and names):
            return
        deadline = time.monotonic() + timeout
        while not self.execute("SELECT count(*) FROM pg_stat_replication "
                               "WHERE sync_state IN ('sync', 'quorum')")[0][0]:
            if time.monotonic() > deadline:
                raise ClusterError(f"no synchronous standby ({names!r}) on {self!r} after "
                                   f"{timeout} s\n{self._log_tail()}")
            time.sleep(0.02)
