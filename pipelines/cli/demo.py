"""``eliq demo-data``: realistic sample data from the project's own generator."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.cli.app import app


@app.command("demo-data")
def demo_data(
    out: Annotated[
        str, typer.Option(help="Output folder or fsspec URI for the raw input files.")
    ] = "demo/input",
    homes: Annotated[int, typer.Option(min=1, help="Number of homes.")] = 60,
    days: Annotated[int, typer.Option(min=1, help="Days of data per home.")] = 120,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 7,
    start: Annotated[str, typer.Option(help="First local day, YYYY-MM-DD.")] = "2025-01-01",
    fault_rate: Annotated[
        float, typer.Option(min=0.0, help="Scales every injected fault's frequency; 0 = clean.")
    ] = 1.0,
    resolutions: Annotated[
        str | None,
        typer.Option(help="Share of homes per resolution, e.g. 'hourly=1' or '15min=0.3,hourly=0.7'."),
    ] = None,
    truth: Annotated[bool, typer.Option(help="Write the ground truth to <out>/_truth.")] = True,
) -> None:
    """Write sample meter data, bills, home profiles, weather and prices in the input contracts."""
    from data_prep.sample_data import generate_demo_data
    from pipelines.cli.progress import console, progress_bars

    mix = _parse_mix(resolutions) if resolutions else None
    with progress_bars() as progress:
        summary = generate_demo_data(
            out,
            homes=homes,
            days=days,
            seed=seed,
            start=start,
            resolution_mix=mix,
            fault_rate=fault_rate,
            write_truth=truth,
            progress=progress,
        )
    console.print(f"[green]Sample data written to[/green] {out}")
    console.print(summary)


def _parse_mix(text: str) -> dict[str, float]:
    try:
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        return {key.strip(): float(value) for key, value in pairs}
    except ValueError as err:
        raise typer.BadParameter(
            f"expected name=share pairs such as 'hourly=0.7,15min=0.3', got {text!r}"
        ) from err
