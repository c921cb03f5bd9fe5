# Every command a person types. `make demo` and `make test` bootstrap the environment from uv.lock by themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
BOOT := .venv-bootstrap
UV := $(BOOT)/bin/uv
VENV := .venv
RUN := $(UV) run --frozen --no-sync
DEMO_DIR ?= demo
DEMO_HOMES ?= 60
DEMO_DAYS ?= 120

.PHONY: help env demo test lint format typecheck pytest bench notebooks clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(UV):
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/pip install --quiet --disable-pip-version-check "uv==0.13.9"

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

env: $(VENV)/.synced  ## create .venv from uv.lock

demo: env  ## generate sample data and run the workflow end to end (prep → … → monitor) on the embedded defaults
	$(RUN) eliq demo-data --homes $(DEMO_HOMES) --days $(DEMO_DAYS) --seed 7 --out $(DEMO_DIR)/input
	$(RUN) eliq --config eliq.yaml pipeline run --input $(DEMO_DIR)/input --truth $(DEMO_DIR)/input/_truth
	$(RUN) eliq --config eliq.yaml features online --home h00000
	$(RUN) eliq --config eliq.yaml predict forecast --out $(DEMO_DIR)/forecasts/forecast.parquet
	@echo "forecasts of every home: $(DEMO_DIR)/forecasts/forecast.parquet"
	$(RUN) eliq --config eliq.yaml pipeline show   # the run's steps; where the run record, reports and UIs are

test: lint typecheck pytest  ## lint, type-check and run every test (integration included)

lint: env  ## ruff lint and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: env  ## apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

typecheck: env  ## mypy on the packages
	$(RUN) mypy

pytest: env  ## the test suite
	$(RUN) pytest -n 2 --dist loadgroup

bench: env  ## every benchmark; figures are printed and written to benchmarks/results/
	$(RUN) python -m benchmarks.bench_demo_data
	$(RUN) python -m benchmarks.bench_imputation
	$(RUN) python -m benchmarks.bench_prep --scaling
	$(RUN) python -m benchmarks.bench_features
	$(RUN) python -m benchmarks.bench_forecast --homes 1000
	$(RUN) python -m benchmarks.bench_forecast_real
	$(RUN) python -m benchmarks.bench_predict
	$(RUN) python -m benchmarks.bench_serving
	$(RUN) python -m benchmarks.bench_monitoring

notebooks: env  ## execute the notebooks against what make demo built
	$(RUN) pytest --nbmake notebooks/

clean:  ## remove generated data and environments
	rm -rf $(DEMO_DIR) data .venv $(BOOT) .pytest_cache .mypy_cache .ruff_cache
