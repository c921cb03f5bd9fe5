"""monitoring: Evidently drift and performance reports (issue 6; not built yet)."""
