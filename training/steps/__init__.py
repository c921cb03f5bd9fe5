"""Training steps: each a function from settings and the lake to tracked runs and registered models.

The CLI (``eliq train|evaluate|tune|predict|models``), the MLproject entry points and the pipelines call these.
"""
