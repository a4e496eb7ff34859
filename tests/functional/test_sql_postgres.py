"""The SQL output loads as is into a real PostgreSQL server (started here on a loopback port)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tda.app.service import generate

from ..conftest import ENTITIES, make_request

pytestmark = pytest.mark.postgres

HOSTILE = "O'Brien \\ \"q\"\nDROP TABLE x; -- '); é 😀"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server installed (.ci/run installs Debian's postgresql)")
    root = Path(tempfile.mkdtemp(prefix="tda-pg-"))
    data = root / "data"
    # initdb refuses to run as root: run the server as the postgres system user when we are root.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    port = _free_port()
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "tda",
            "--auth=trust",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [
            *as_user,
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(root),
            "-c",
            "listen_addresses=127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"postgresql://tda@127.0.0.1:{port}/postgres"
    try:
        import psycopg

        for _ in range(100):
            try:
                psycopg.connect(url).close()
                break
            except psycopg.OperationalError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("entity", ENTITIES)
def test_sql_loads_into_postgresql(postgres_url: str, entity: str) -> None:
    import psycopg

    sql = generate(make_request(entity=entity, count=200, output_format="SQL")).data
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(
            f"DROP SCHEMA IF EXISTS s_{entity} CASCADE; CREATE SCHEMA s_{entity}; SET search_path TO s_{entity}"
        )
        db.execute(sql)
        assert db.execute(f'SELECT count(*) FROM "{entity}"').fetchone() == (200,)


def test_hostile_strings_and_cart_math_survive_postgresql(postgres_url: str) -> None:
    import psycopg

    sql = generate(
        make_request(
            entity="cart",
            count=50,
            output_format="SQL",
            scenarios=[{"name": "x", "count": 50, "overrides": {"items.name": HOSTILE}}],
        )
    ).data
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(
            "DROP SCHEMA IF EXISTS hostile CASCADE; CREATE SCHEMA hostile; SET search_path TO hostile"
        )
        db.execute(sql)
        assert db.execute("SELECT DISTINCT name FROM cart_items").fetchall() == [(HOSTILE,)]
        bad = db.execute(
            "SELECT count(*) FROM cart c JOIN (SELECT cart_id, sum(quantity * price) s FROM cart_items GROUP BY cart_id) i "
            "USING (cart_id) WHERE i.s <> c.subtotal OR c.subtotal + c.tax <> c.total"
        ).fetchone()
        assert bad == (0,)


@pytest.mark.parametrize("entity", ENTITIES)
def test_edge_cases_as_sql_load_into_postgresql(postgres_url: str, entity: str) -> None:
    """Invalid on purpose (a required field null, a key among them, sub-cent money, unicode,
    far-future dates): every row loads, with its labels."""
    import psycopg

    ask = {"entity": entity, "count": 120, "defect_triggering": True}
    sql = generate(make_request(output_format="SQL", **ask)).data
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(
            f"DROP SCHEMA IF EXISTS e_{entity} CASCADE; CREATE SCHEMA e_{entity}; SET search_path TO e_{entity}"
        )
        db.execute(sql)
        rows = db.execute(f'SELECT count(*), count(DISTINCT _edge_case_type) FROM "{entity}"')
        count, kinds = rows.fetchone() or (0, 0)
        assert count == 120 and kinds > 5


def test_names_at_postgresqls_limits_load_and_keep_their_columns(postgres_url: str) -> None:
    """What the SQL check of names lets through loads: SQL keywords, a name of exactly 63
    bytes, an object's field beside a longer flat name, and an array of objects as a child
    table."""
    import psycopg

    long_name = "n" * 63
    fields = [
        {"name": "select", "type": "STRING"},
        {"name": "Total", "type": "INTEGER"},
        {"name": long_name, "type": "STRING"},
        {"name": "a", "type": "OBJECT", "nested_fields": [{"name": "b", "type": "STRING"}]},
        {"name": "a__bc", "type": "STRING"},
        {"name": "lines", "type": "ARRAY", "nested_fields": [{"name": "order", "type": "INTEGER"}]},
    ]
    sql = generate(
        make_request(entity="group", schema={"fields": fields}, count=30, output_format="SQL")
    ).data
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(
            "DROP SCHEMA IF EXISTS limits CASCADE; CREATE SCHEMA limits; SET search_path TO limits"
        )
        db.execute(sql)
        columns = db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'limits' "
            "AND table_name = 'group'"
        ).fetchall()
        assert {"select", "Total", long_name, "a__b", "a__bc"} <= {c for (c,) in columns}
        assert db.execute('SELECT count(*) FROM "group"').fetchone() == (30,)
        assert db.execute('SELECT count(DISTINCT "_index") FROM "group_lines"').fetchone() == (30,)


def test_an_entity_named_with_a_nul_loads_under_its_name_without_it(postgres_url: str) -> None:
    """PostgreSQL takes no NUL in a query: dropped from a table's name as from a value."""
    import psycopg

    schema = {"fields": [{"name": "x", "type": "STRING"}]}
    sql = generate(make_request(entity="nu\x00ll", schema=schema, count=3, output_format="SQL"))
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("DROP SCHEMA IF EXISTS nul CASCADE; CREATE SCHEMA nul; SET search_path TO nul")
        db.execute(sql.data)
        assert db.execute('SELECT count(*) FROM "null"').fetchone() == (3,)
