"""Feature table transforms: the curated zone → the Parquet tables that Feast serves, grouped by domain.

``consumption`` (lags, trailing statistics, totals, night share, baseload), ``weather`` (degree-days, trailing
temperature), ``price`` (day statistics, rank), ``home`` (static encoding, PV block); ``build`` writes them all.
Plain pandas / numpy: no Feast here.
"""
