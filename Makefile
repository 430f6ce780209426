# One-command set-up: `make test` (tests, what CI runs), `make test-fast` (the inner loop: every
# test not marked slow), `make lint` (ruff check + ruff format --check), `make demo` (the main
# job on the shipped clip) and `make bench` (every bench/*.py, one JSON object each;
# docs/benchmarks.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TF_EXTRA ?= cpu
# pytest-xdist workers for `make test` / `make test-fast`, one test module at a time each
# (0: one process). Two keep a 2-core machine busy; each worker holds its own TensorFlow (up to
# about 10 GB by the end of the suite), so more workers need the memory for it.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

.PHONY: install test test-fast lint format demo bench blazepose clean

LINT_PATHS := src tfrecords_tools tests demo.py bench

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(TF_EXTRA),test,beam]"
	# tf-slim's graph-mode layers need tf-keras' legacy layers; without deps it cannot pull Keras 2 in.
	$(PY) -m pip install -q --no-deps "tf-keras==2.21.*"
	touch $@

install: $(VENV)/.installed

test: $(VENV)/.installed
	@$(MAKE) --no-print-directory models/blazepose/pose_landmark_full.tflite \
	    || echo "warning: BlazePose models not fetched; the tests that need them will skip"
	@$(MAKE) --no-print-directory $(GLTF_VALIDATOR) \
	    || echo "warning: gltf-validator (npm) not installed; its test will skip"
	$(PYTEST) --durations=15

# under 3 minutes on a 2-core machine when idle
test-fast: $(VENV)/.installed
	$(PYTEST) -m "not slow"

# the Khronos glTF validator (npm, test-only) into the virtualenv, not the system
GLTF_VALIDATOR := $(VENV)/node/node_modules/gltf-validator
$(GLTF_VALIDATOR):
	command -v npm >/dev/null
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node gltf-validator

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

format: $(VENV)/.installed
	$(VENV)/bin/ruff format $(LINT_PATHS)

# BlazePose models (Apache-2.0) ship inside the mediapipe wheel, which cannot be installed beside
# TensorFlow 2.21; we download the wheel only to unpack the two .tflite files.
models/blazepose/pose_landmark_full.tflite:
	mkdir -p models/blazepose/.wheel
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
	    --platform manylinux_2_17_x86_64 -d models/blazepose/.wheel "mediapipe==0.10.14"
	$(PY) -m src.video.blazepose_models models/blazepose/.wheel models/blazepose
	rm -rf models/blazepose/.wheel

blazepose: $(VENV)/.installed models/blazepose/pose_landmark_full.tflite

demo: $(VENV)/.installed blazepose
	$(PY) demo.py --vid_path assets/pexels_walking.mp4 --out_dir demo_output

# one script after another (they would compete for the cores); each prints one JSON object
bench: $(VENV)/.installed blazepose
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
