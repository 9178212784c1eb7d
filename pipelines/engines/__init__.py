"""The warehouse engines: DuckDB (the default, in the dbt process) and Apache Spark (docs/spark.md).

``spark`` copies what a Spark build made into the DuckDB file the rest of the pipeline reads;
``compare`` tells whether two builds' tables hold the same rows.
"""
