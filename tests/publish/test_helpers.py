from __future__ import annotations

import duckdb

from pipelines.publish import mask_url, pg_column
from pipelines.publish.postgres import conninfo_from_url


def test_mask_url_and_helpers() -> None:
    assert mask_url("postgresql+psycopg://u:p%40ss@h:5432/db") == "postgresql+psycopg://u:***@h:5432/db"
    assert mask_url("postgresql://u@h/db?password=x&sslmode=require") == "postgresql://u@h/db?password=***&sslmode=require"
    assert mask_url("host=h user=u password='a b' dbname=d") == "host=h user=u password=*** dbname=d"
    assert conninfo_from_url("postgresql+psycopg://u@h/db") == "postgresql://u@h/db"
    types = duckdb.sql("SELECT 1.5::DECIMAL(9, 2) a, ['x'] b, {'k': 1} c, 'x'::BLOB d").types
    assert [pg_column(n, t)[0] for n, t in zip("abcd", types, strict=True)] == [
        "numeric(9,2)", "text[]", "jsonb", "bytea",
    ]
