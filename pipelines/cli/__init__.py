"""The ``eliq`` command line. Each layer's commands import that layer lazily, so ``eliq --help`` stays fast."""

from pipelines.cli.app import app, main

__all__ = ["app", "main"]
