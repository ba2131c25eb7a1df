"""Timing of the taxonomy importers on the real files: O*NET 26.3 and BLS OEWS May 2024.

Imports both into a fresh SQLite database (a temporary file), or into PostgreSQL when
DATABASE_URL is set (a database of its own, named after this process so that two runs on one
server never meet, created and dropped by this script), twice each:
the first import writes every row, the second finds them all unchanged.

    uv run python bench/taxonomy_import.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres uv run python bench/taxonomy_import.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
BENCH_DATABASE = f"evalbuilder_taxonomy_bench_{os.getpid()}"


def main() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    server = os.environ.get("DATABASE_URL", "")
    folder = tempfile.mkdtemp()
    if server.startswith("postgres"):
        import psycopg

        base = server.rsplit("/", 1)[0]
        with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
            connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")
        os.environ["DATABASE_URL"] = f"{base}/{BENCH_DATABASE}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalbuilder.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from occupations.importers.oews import import_oews
    from occupations.importers.onet import import_onet, read_onet_files

    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor}")
    oews_path = DATA / "bls-oews-may2024" / "national_M2024_dl.xlsx"
    onet_path = DATA / "onet-26.3"
    for attempt in ("first", "second"):
        start = time.perf_counter()
        report = import_oews(oews_path.name, oews_path.read_bytes())
        seconds = time.perf_counter() - start
        rows = sum(c.added + c.changed + c.unchanged for c in report.counts.values())
        print(f"OEWS May 2024, {attempt} import: {seconds:.2f} s, {rows / seconds:,.0f} rows/s")
        start = time.perf_counter()
        report = import_onet(read_onet_files(onet_path))
        seconds = time.perf_counter() - start
        rows = sum(c.added + c.changed + c.unchanged for c in report.counts.values())
        print(f"O*NET 26.3, {attempt} import: {seconds:.2f} s, {rows / seconds:,.0f} rows/s")
    connection.close()
    if server.startswith("postgres"):
        import psycopg

        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")


if __name__ == "__main__":
    main()
