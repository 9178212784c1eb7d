from __future__ import annotations

import base64
import hashlib
import hmac

import duckdb

from pipelines.publish import mask_url, pg_column
from pipelines.publish.postgres import conninfo_from_url, scram_sha256_verifier


def test_mask_url_and_helpers() -> None:
    assert mask_url("postgresql+psycopg://u:p%40ss@h:5432/db") == "postgresql+psycopg://u:***@h:5432/db"
    assert mask_url("postgresql://u@h/db?password=x&sslmode=require") == "postgresql://u@h/db?password=***&sslmode=require"
    assert mask_url("host=h user=u password='a b' dbname=d") == "host=h user=u password=*** dbname=d"
    assert conninfo_from_url("postgresql+psycopg://u@h/db") == "postgresql://u@h/db"
    verifier = scram_sha256_verifier("pw", salt=b"0123456789abcdef")
    assert verifier.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$")
    types = duckdb.sql("SELECT 1.5::DECIMAL(9, 2) a, ['x'] b, {'k': 1} c, 'x'::BLOB d").types
    assert [pg_column(n, t)[0] for n, t in zip("abcd", types, strict=True)] == [
        "numeric(9,2)", "text[]", "jsonb", "bytea",
    ]


def test_scram_verifier_matches_the_rfc_7677_construction() -> None:
    salt = b"0123456789abcdef"
    verifier = scram_sha256_verifier("pencil", salt=salt, iterations=4096)
    _, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    assert iterations_salt == "4096:" + base64.b64encode(salt).decode()
    assert stored_key == hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    assert server_key == hmac.new(salted, b"Server Key", hashlib.sha256).digest()
