"""serving: the BentoML service (issue 5; not built yet)."""
