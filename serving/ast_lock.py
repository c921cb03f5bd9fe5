"""One ``ast.parse`` at a time in the serving process: a guard against a CPython 3.11 race.

CPython 3.11 keeps the AST constructor's recursion counter in the ``_ast`` module's state, which every thread
shares. When two threads build ASTs at once (a thread switch inside the conversion, e.g. at a garbage collection),
one of them fails with ``SystemError: AST constructor recursion depth mismatch``. The service's threads parse more
often than it seems: pydantic reads the signature of builtin default factories through ``inspect.signature``
(which parses the text signature), and Python 3.11 parses source lines to underline them in logged tracebacks. The
race was seen in this project's CI: a background forecast pass logging a traceback while the test thread built
the app's schemas.

:func:`serialize_ast_parse` wraps ``ast.parse`` in a lock, so every caller that goes through it (``inspect``,
``traceback``, pydantic, pytest, hypothesis) parses one at a time. ``compile(..., ast.PyCF_ONLY_AST)`` called
directly is not covered. A parse takes microseconds to milliseconds, so the lock costs nothing measurable.
"""

from __future__ import annotations

import ast
import functools
import threading
from typing import Any

_LOCK = threading.RLock()  # re-entrant: a parse that triggers a logged error parses again on the same thread


def serialize_ast_parse() -> None:
    """Make ``ast.parse`` take a process-wide lock; idempotent."""
    if getattr(ast.parse, "__eliq_serialized__", False):
        return
    original = ast.parse

    @functools.wraps(original)
    def parse(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return original(*args, **kwargs)

    parse.__eliq_serialized__ = True  # type: ignore[attr-defined]
    ast.parse = parse
