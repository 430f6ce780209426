import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The modules that take minutes, longest first. `make test` runs the suite on two workers a
# module at a time (`pytest -n 2 --dist loadfile`), handing out modules in collection order:
# started first, the long ones run beside the short ones instead of after them (the synthetic
# experiment alone takes 6-9 minutes). Tests inside a module keep their order.
LONG_MODULES = (
    "tests/experiments/test_synthetic_small.py",
    "tests/training/test_distributed.py",
    "tests/training/test_kill_anywhere.py",
    "tests/training/test_main.py",
    "tests/training/test_fused_step.py",
    "tests/training/test_trainer.py",
    "tests/training/test_run.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(LONG_MODULES)))
