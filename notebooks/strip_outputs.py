"""Strip the notebooks before committing: outputs, execution counts, and the metadata editors add.

    .venv/bin/python notebooks/strip_outputs.py                 # every notebook in this folder
    .venv/bin/python notebooks/strip_outputs.py path/to/x.ipynb # some of them

``tests/notebooks/test_notebooks_stripped.py`` fails on a notebook committed with outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")
KEPT_CELL_METADATA = ("tags",)


def strip(path: Path) -> bool:
    """Strip one notebook in place; whether it changed."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    before = nbformat.writes(notebook)
    notebook.metadata = {k: v for k, v in notebook.metadata.items() if k in KEPT_NOTEBOOK_METADATA}
    if "language_info" in notebook.metadata:
        notebook.metadata["language_info"] = {"name": "python", "version": "3.11"}
    for cell in notebook.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in KEPT_CELL_METADATA}
        cell.pop("attachments", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    after = nbformat.writes(notebook)
    if after != before:
        path.write_text(after if after.endswith("\n") else after + "\n")
    return after != before


def main(arguments: list[str]) -> int:
    paths = [Path(a) for a in arguments] or sorted(Path(__file__).resolve().parent.glob("*.ipynb"))
    for path in paths:
        print(f"{'stripped' if strip(path) else 'clean   '} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
