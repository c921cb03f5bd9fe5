"""The notebooks are committed without outputs, are valid nbformat 4, and say what they need first.

Fast (no kernel): runs with every test run, while ``test_notebooks.py`` executes them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
EXPECTED = ("01_curated_data_quality.ipynb", "02_forecast_experiment.ipynb", "03_drift_review.ipynb")


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_three_notebooks_are_there():
    assert tuple(p.name for p in notebook_paths()) == EXPECTED


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in notebook_paths()])
def test_notebook_is_stripped_and_valid(path):
    import nbformat

    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "a notebook without code"
    for cell in code:
        assert cell.outputs == [], f"outputs left in cell {cell.get('id')}: clear them before committing"
        assert cell.execution_count is None, f"execution count left in cell {cell.get('id')}"
    for cell in notebook.cells:
        assert not cell.get("attachments"), f"attachment in cell {cell.get('id')}"
        assert set(cell.metadata) <= {"tags"}, (
            f"metadata {sorted(cell.metadata)} left in cell {cell.get('id')}"
        )
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and "make demo" in first.source  # the prerequisites come first
    assert "ELIQ_CONFIG" in first.source
