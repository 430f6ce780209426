"""pytest's warning filters (setup.cfg): a DeprecationWarning attributed to our own modules fails
the test; one from a third-party module is ignored."""

from __future__ import annotations

import warnings

import pytest


def _warn_from(module_name: str) -> None:
    namespace = {"__name__": module_name, "warnings": warnings}
    exec("def deprecated():\n    warnings.warn('old API', DeprecationWarning)\n", namespace)
    namespace["deprecated"]()


@pytest.mark.parametrize("module_name", ["src.networks.fake", "tfrecords_tools.fake"])
def test_deprecation_warning_from_our_code_is_an_error(module_name):
    with pytest.raises(DeprecationWarning, match="old API"):
        _warn_from(module_name)


@pytest.mark.parametrize("module_name", ["keras.src.fake", "sources_elsewhere"])
def test_deprecation_warning_from_third_party_code_is_ignored(module_name):
    _warn_from(module_name)
