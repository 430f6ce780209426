"""Evaluation: the original's metrics (``metrics``), aggregation and result files
(``aggregate``), the prediction cache (``cache``), the model's predictions on the test tubes
(``predictions``), per-tube errors and per-dataset values (``tube_errors``), the printed tables
(``report``), and the ``python -m src.evaluation.evaluate`` CLI (``options``, ``evaluate``)."""
