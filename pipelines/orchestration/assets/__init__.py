"""The asset definitions: extraction (raw lake), the dbt build (warehouse), publish, reports, alerts."""
