"""features: the Feast feature store (issue 3; not built yet)."""
