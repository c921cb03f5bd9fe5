"""The ``ast.parse`` lock: threads that parse at once fail on CPython 3.11 without it (the race is shown first,
or the test is skipped where the interpreter has no such race), and never with it.

Each run is a subprocess, since the lock changes ``ast.parse`` for the whole process.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

STRESS = """
import ast, gc, sys, threading
sys.setswitchinterval(1e-6)  # switch threads as often as possible
gc.callbacks.append(lambda phase, info: None)  # Python code at each collection: a switch point mid-conversion
if {guarded}:
    from serving.ast_lock import serialize_ast_parse
    serialize_ast_parse()
source = "\\n".join(f"def f{{i}}(a, b=[1, 2]):\\n    return [x * {{i}} for x in a if x > b[0]]" for i in range(300))
errors = []

def parse_at_depth(depth):  # threads at different stack depths start the shared counter at different values
    if depth:
        return parse_at_depth(depth - 1)
    for _ in range(60):
        try:
            ast.parse(source)
        except SystemError as err:
            errors.append(str(err))
            return

threads = [threading.Thread(target=parse_at_depth, args=(d,)) for d in (5, 40, 80)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(errors))
"""


def _errors(guarded: bool) -> int:
    code = STRESS.format(guarded=guarded)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return int(done.stdout.split()[-1])


def test_threads_parse_at_once_without_an_error_under_the_lock():
    if _errors(guarded=False) == 0:
        pytest.skip("this interpreter showed no AST race without the lock")
    assert _errors(guarded=True) == 0


def test_the_lock_is_installed_once_and_keeps_parse_working():
    import ast

    from serving.ast_lock import serialize_ast_parse

    serialize_ast_parse()
    first = ast.parse
    serialize_ast_parse()
    assert ast.parse is first and ast.dump(ast.parse("x = 1")) == ast.dump(
        compile("x = 1", "<s>", "exec", ast.PyCF_ONLY_AST)
    )
