"""The workflow's steps: typed functions with explicit inputs (a context and upstream outputs) and outputs.

Each wraps the layer's own step function (``data_prep.run.run_prep``, ``training.steps…``,
``monitoring.steps.monitor_forecast``); :mod:`pipelines.workflow` wires them, and the local runner, the MLflow project
entry points and the Azure ML components all run them through :func:`pipelines.workflow.execute_step`.
"""
