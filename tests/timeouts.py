"""Time limits inside tests, scaled to the machine.

A limit guards against a hang; it must never fail a test because the machine is busy (a loaded
2-core machine runs a two-worker training several times slower than an idle one). Every limit in
the tests is written as the seconds an idle developer machine needs with some margin, passed
through :func:`scaled`, which multiplies it by ``HMMR_TEST_TIMEOUT_SCALE`` (default
:data:`DEFAULT_SCALE`, generous on purpose). Tests never assert that work was fast.
"""

from __future__ import annotations

import os

SCALE_ENV = "HMMR_TEST_TIMEOUT_SCALE"
DEFAULT_SCALE = 4.0


def timeout_scale() -> float:
    """``HMMR_TEST_TIMEOUT_SCALE`` as a positive float (default :data:`DEFAULT_SCALE`)."""
    text = os.environ.get(SCALE_ENV, "")
    if not text:
        return DEFAULT_SCALE
    try:
        scale = float(text)
    except ValueError as err:
        raise ValueError(f"{SCALE_ENV}={text!r}: expected a positive number") from err
    if scale <= 0:
        raise ValueError(f"{SCALE_ENV}={text!r}: expected a positive number")
    return scale


def scaled(seconds: float) -> float:
    """``seconds`` times the machine's timeout scale."""
    return seconds * timeout_scale()
