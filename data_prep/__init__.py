"""data_prep: ingest energy data into the raw, processed and curated zones, behind a data-quality framework."""
