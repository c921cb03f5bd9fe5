"""The ``eliq`` command line. Each layer's commands import that layer lazily, so ``eliq --help`` stays fast."""

from pipelines.cli import clients, demo, export, features, models, monitor, pipeline, prep, serve  # noqa: F401  (each module registers its commands on the app)
from pipelines.cli.app import app, main

__all__ = ["app", "main"]
