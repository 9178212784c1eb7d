"""Integration tests of the dbt project (the package name keeps ``import dbt`` pointing at dbt-core)."""
