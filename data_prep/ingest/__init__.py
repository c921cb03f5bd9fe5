"""Ingestion: discover input files, copy them into the raw zone, and parse each source into canonical rows."""
