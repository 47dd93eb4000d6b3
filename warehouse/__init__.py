"""The data layer: raw sources and landing (read, gate, load or quarantine), the dbt runner,
the one read-only reader of the DuckDB warehouse that every later stage uses, and the
synthetic order generator."""
