"""The workflow on Azure ML (azure-ai-ml): the environment, the command components and pipeline job, the daily
schedule, the offline compilation to YAML and the submission to a workspace.

Every component runs ``python -m pipelines.cli pipeline step <name>``: the same step function as the local runner.
azure-ai-ml is imported inside the functions that need it.
"""
