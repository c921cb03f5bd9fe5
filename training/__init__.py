"""training: forecast, disaggregation, peer comparison and solar models (issue 4 onwards; not built yet)."""
