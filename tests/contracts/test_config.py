"""Typed config: YAML file, environment overrides, clear errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts.config import load_settings


def test_yaml_values_are_loaded(tmp_path):
    config = tmp_path / "eliq.yaml"
    config.write_text("storage:\n  root: memory://lake\nprep:\n  n_buckets: 4\n")
    settings = load_settings(config)
    assert settings.storage.root == "memory://lake"
    assert settings.prep.n_buckets == 4
    assert settings.prep.imputation.max_gap_hours == 72.0  # untouched default


def test_environment_wins_over_the_file(tmp_path, monkeypatch):
    config = tmp_path / "eliq.yaml"
    config.write_text("storage:\n  root: data\n")
    monkeypatch.setenv("ELIQ_STORAGE__ROOT", "abfs://lake@acct.dfs.core.windows.net/eliq")
    monkeypatch.setenv("ELIQ_PREP__N_BUCKETS", "32")
    settings = load_settings(config)
    assert settings.storage.root == "abfs://lake@acct.dfs.core.windows.net/eliq"
    assert settings.prep.n_buckets == 32


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        pytest.param("prep:\n  n_buckets: many\n", "n_buckets", id="wrong-type"),
        pytest.param("prep:\n  nbuckets: 4\n", "nbuckets", id="unknown-key"),
    ],
)
def test_bad_config_names_the_key(tmp_path, yaml_text, key):
    config = tmp_path / "eliq.yaml"
    config.write_text(yaml_text)
    with pytest.raises(ValidationError, match=key):
        load_settings(config)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_settings_are_frozen():
    settings = load_settings(storage={"root": "x"})
    with pytest.raises(ValidationError):
        settings.storage.root = "y"  # type: ignore[misc]
