"""``python -m pipelines.cli …`` = ``eliq …`` (the Azure ML components run the CLI from the uploaded project folder,
where the ``eliq`` script is not installed)."""

from pipelines.cli import main

if __name__ == "__main__":
    main()
