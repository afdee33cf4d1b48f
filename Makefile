# iml4e developer commands. `make demo` and `make test` each work alone on a fresh clone.
SHELL := /bin/bash
PY_DIRS := platform/iml4e components/iml4e_components pipelines/iml4e_pipelines
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo $(VENV)-tools/bin/uv)
PYTEST_ARGS ?=
# tests/integration/packaging builds and installs the wheel with this uv.
export UV

.PHONY: install demo test test-unit test-integration lint scanners scan-manifests bandit bench bench-ed clean golden

# Create .venv from uv.lock; bootstrap uv with pip when it is missing. Bytecode is compiled here:
# where PYTHONDONTWRITEBYTECODE is set, every new process (CLI, servers, pipeline tasks) would
# otherwise compile mlflow, kfp and kubernetes from source again (~8 s for kubernetes alone).
install: $(BIN)/.installed
$(BIN)/.installed: pyproject.toml uv.lock
	@if ! command -v uv >/dev/null 2>&1 && [ ! -x $(VENV)-tools/bin/uv ]; then \
		echo "bootstrapping uv into $(VENV)-tools"; \
		python3 -m venv $(VENV)-tools && $(VENV)-tools/bin/pip install --quiet "uv>=0.5"; \
	fi
	$(UV) sync --frozen --all-extras --compile-bytecode
	$(BIN)/python -m compileall -q platform components pipelines
	@touch $@

demo: install
	$(BIN)/iml4e demo

test: install
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test-unit: install
	$(BIN)/pytest tests/unit -n 2 $(PYTEST_ARGS)

test-integration: install
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check platform components pipelines tests benchmarks examples
	$(BIN)/ruff format --check platform components pipelines tests benchmarks examples
	$(BIN)/mypy $(PY_DIRS)
	$(BIN)/lint-imports
	$(MAKE) --no-print-directory bandit scan-manifests

# The security scanners (checkov, bandit) live in their own environment, installed from a hashed,
# locked list: checkov brings ~100 packages that iml4e never imports (tests/policy_scan/scanners.in).
SCANNERS := $(VENV)-scanners
scanners: $(SCANNERS)/.installed
$(SCANNERS)/.installed: tests/policy_scan/scanners.txt | install
	$(UV) venv --quiet --allow-existing --python $(BIN)/python $(SCANNERS)
	$(UV) pip sync --quiet --python $(SCANNERS)/bin/python --require-hashes tests/policy_scan/scanners.txt
	@touch $@

# Python security lint; skips and their reasons in tests/policy_scan/bandit.yaml, others inline (# nosec BXXX).
bandit: scanners
	$(SCANNERS)/bin/bandit --quiet --configfile tests/policy_scan/bandit.yaml --recursive $(PY_DIRS)

# Kubernetes policy scan of the rendered manifests, offline; accepted findings: manifests/policy-exceptions.yaml.
scan-manifests: scanners
	PYTHONPATH=tests $(BIN)/python -m policy_scan.scan_manifests --checkov $(SCANNERS)/bin/checkov

# The error detection benchmarks (SAGED vs Raha, synthetic held-out pairs) take many minutes, so they
# have their own target (bench-ed).
bench: install
	@for b in benchmarks/*.py; do case $$b in benchmarks/error_detection*) continue;; esac; echo "== $$b"; $(BIN)/python $$b || exit 1; done

# BENCH_ED_ARGS="--scale-out [--rows N]" runs only the scale-out comparison (local engine vs Ray, 1 and 2 workers);
# "--scale-out --memory [--rows N]" the peak memory of `iml4e detect` against the CSV's size.
bench-ed: install
	@case " $(BENCH_ED_ARGS) " in *" --scale-out "*) \
		nice -n 10 $(BIN)/python benchmarks/error_detection_scale_out.py $(filter-out --scale-out,$(BENCH_ED_ARGS));; \
	*) nice -n 10 $(BIN)/python benchmarks/error_detection.py $(BENCH_ED_ARGS) && \
		nice -n 10 $(BIN)/python benchmarks/error_detection_synthetic.py;; esac

clean:
	rm -rf $(VENV) $(VENV)-tools $(VENV)-scanners .iml4e local_outputs .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Regenerate the golden files (installer manifests, compiled pipelines) after an intended change; review the diff.
golden: install
	PYTHONPATH=tests $(BIN)/python -m golden_files.render_manifests --update
	PYTHONPATH=tests $(BIN)/python -m golden_files.compile_pipelines --update
