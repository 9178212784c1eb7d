import sqlalchemy as sa


def test_postgres_server_answers(postgres_url):
    engine = sa.create_engine(postgres_url)
    with engine.connect() as con:
        assert con.execute(sa.text("select 40 + 2")).scalar() == 42
        assert con.execute(sa.text("show server_version")).scalar().startswith("15")
