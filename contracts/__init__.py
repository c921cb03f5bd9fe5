"""What the layers agree on: typed configuration, canonical data schemas and the storage layout.

Every layer imports from here; this package imports no layer.
"""
