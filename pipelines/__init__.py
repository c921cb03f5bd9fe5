"""pipelines: wires the layers into workflows and exposes them as the ``eliq`` CLI. Nothing imports this package."""
