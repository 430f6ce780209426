"""Evaluation: the original's metrics (``metrics``), aggregation and result files
(``aggregate``), and the ``python -m src.evaluation.evaluate`` CLI."""
