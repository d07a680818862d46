"""The throwaway PostgreSQL clusters of tests/pgcluster.py and the pg_cluster / pg_url fixtures."""

import psycopg
import pytest

from tests.conftest import PG_TEMPLATE
from tests.pgcluster import Cluster, ClusterError, PostgresNotFound, find_bindir


def test_cluster_answers_through_psycopg_and_psql(pg_cluster):
    with psycopg.connect(pg_cluster.url("postgres")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.info.host == "127.0.0.1" and conn.info.port == pg_cluster.port
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        assert conn.execute("SHOW lc_collate").fetchone() == ("C",)
    assert pg_cluster.psql("SELECT 'ok', 1 + 1").strip() == "ok|2"
    assert pg_cluster.url("x y") == f"postgresql://postgres@127.0.0.1:{pg_cluster.port}/x%20y"


def test_session_cluster_is_fast_not_durable(pg_cluster):
    settings = dict(pg_cluster.execute(
        "SELECT name, setting FROM pg_settings WHERE name IN "
        "('fsync', 'synchronous_commit', 'full_page_writes', 'listen_addresses')"))
    assert settings == {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                        "listen_addresses": "127.0.0.1"}


def test_per_test_databases_are_independent(pg_cluster, pg_url):
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
    pg_cluster.create_database("tally_other", template=PG_TEMPLATE)
    try:
        with psycopg.connect(pg_cluster.url("tally_other")) as other:
            assert other.execute("SELECT to_regclass('t')").fetchone() == (None,)
            other.execute("CREATE TABLE t (x int)")
            other.execute("INSERT INTO t VALUES (2), (3)")
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        pg_cluster.drop_database("tally_other")
    # The template stayed as it was; the other database is gone, this one's is there (a
    # session-long one, such as the browser tests' site, may be there too).
    assert pg_cluster.execute("SELECT to_regclass('t')", dbname=PG_TEMPLATE) == [(None,)]
    names = {name for (name,) in pg_cluster.execute("SELECT datname FROM pg_database")}
    assert "tally_other" not in names and {PG_TEMPLATE, pg_url.rsplit("/", 1)[1]} <= names
    assert not [n for n in names if n.startswith("tally_test_") and n not in pg_url]


def test_per_test_database_is_dropped_even_with_open_connections(pg_cluster):
    pg_cluster.create_database("tally_busy", template=PG_TEMPLATE)
    conn = psycopg.connect(pg_cluster.url("tally_busy"))
    try:
        pg_cluster.drop_database("tally_busy")
        assert pg_cluster.execute(
            "SELECT count(*) FROM pg_database WHERE datname = 'tally_busy'") == [(0,)]
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    finally:
        conn.close()


def test_durable_cluster_and_stop_modes():
    with Cluster(durable=True, name="durable") as cluster:
        assert cluster.execute("SHOW fsync") == [("on",)]
        assert cluster.execute("SHOW synchronous_commit") == [("on",)]
        cluster.execute("CREATE TABLE t (x int)")
        cluster.execute("INSERT INTO t VALUES (1)")
        cluster.stop(mode="immediate")       # a crash: recovered from the WAL at the next start
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(cluster.url(), connect_timeout=2)
        cluster.start()
        assert cluster.execute("SELECT x FROM t") == [(1,)]
        cluster.stop(mode="fast")
        base = cluster.base
        assert (cluster.data / "PG_VERSION").exists()
    assert not base.exists()
    with pytest.raises(ValueError):
        cluster.stop(mode="abrupt")


def test_standby_replicates_and_takes_over_after_a_crash():
    with Cluster(durable=True, name="primary") as primary, \
            primary.make_standby("standby1") as standby:
        assert standby.port != primary.port and standby.in_recovery()
        assert not primary.in_recovery()
        primary.execute("CREATE TABLE t (x int)")
        primary.execute("INSERT INTO t VALUES (1)")
        primary.wait_for_replay(standby)
        assert standby.execute("SELECT x FROM t") == [(1,)]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            standby.execute("INSERT INTO t VALUES (2)")

        primary.stop(mode="immediate")
        standby.promote()
        assert not standby.in_recovery()
        standby.execute("INSERT INTO t VALUES (2)")
        assert standby.execute("SELECT x FROM t ORDER BY x") == [(1,), (2,)]


def test_wait_for_replay_with_asynchronous_commits():
    # Not durable: the primary's commits are not even written out when they return.
    with Cluster(name="primary") as primary, primary.make_standby("standby1") as standby:
        assert standby.execute("SHOW fsync") == [("off",)]
        primary.execute("CREATE TABLE t (x int)")
        for x in range(10):
            primary.execute("INSERT INTO t VALUES (%s)", (x,))
            primary.wait_for_replay(standby)
            assert standby.execute("SELECT max(x) FROM t") == [(x,)]


def test_synchronous_standby_has_every_committed_row():
    with Cluster(durable=True, name="primary") as primary, \
            primary.make_standby("standby1") as standby:
        primary.set_synchronous_standby_names("standby1", synchronous_commit="remote_apply")
        assert primary.execute("SELECT application_name, sync_state FROM pg_stat_replication") \
            == [("standby1", "sync")]
        primary.execute("CREATE TABLE t (x int)")
        with primary.connect() as conn:
            for x in range(20):
                with conn.transaction():
                    conn.execute("INSERT INTO t VALUES (%s)", (x,))
                # Committed on the primary: already there on the standby, no waiting.
                assert standby.execute("SELECT count(*) FROM t") == [(x + 1,)]


def test_standby_needs_a_running_primary():
    with Cluster(name="stopped") as cluster:
        cluster.stop()
        with pytest.raises(ClusterError, match="start the primary"):
            cluster.make_standby()


def test_missing_postgresql_is_a_clear_error(monkeypatch, tmp_path):
    assert (find_bindir() / "initdb").exists()
    monkeypatch.setenv("TALLY_PG_BINDIR", str(tmp_path))
    with pytest.raises(PostgresNotFound, match="does not hold all of initdb"):
        find_bindir()
