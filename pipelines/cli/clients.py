"""``eliq clients add|list|revoke``: the API keys of the serving layer.

The keys live hashed in ``<serving.state_dir>/clients.db`` (see :mod:`serving.clients`); ``--db`` points at
another file. ``add`` prints the new key alone on stdout, so that a script can capture it, and everything else on
stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.cli.app import app

clients_app = typer.Typer(
    help="API keys of the serving layer: add, list, revoke (keys are stored hashed).", no_args_is_help=True
)
app.add_typer(clients_app, name="clients")

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="The key store (default: <serving.state_dir>/clients.db of the settings)."),
]


def _store(ctx: typer.Context, db: Path | None) -> Any:
    from serving.clients import ApiKeyStore, store_path

    if db is not None:
        return ApiKeyStore(db)
    from contracts.config import load_settings

    return ApiKeyStore(store_path(load_settings(ctx.obj.get("config") if ctx.obj else None)))


@clients_app.command("add")
def add(
    ctx: typer.Context,
    client: Annotated[str, typer.Argument(help="The client (tenant) id, as in the homes' client_id.")],
    admin: Annotated[bool, typer.Option("--admin", help="The key may call the admin endpoints.")] = False,
    db: DbOption = None,
) -> None:
    """Create an API key for a client and print it once."""
    from pipelines.cli.progress import console

    store = _store(ctx, db)
    try:
        key = store.add(client, admin=admin)
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(code=1) from err
    kind = "admin key" if admin else "key"
    console.print(f"[green]added[/green] {kind} for client {client!r} in {store.path}")
    typer.echo(key)
    console.print("[yellow]Store this key now: it is kept hashed and cannot be shown again.[/yellow]")


@clients_app.command("list")
def list_keys(ctx: typer.Context, db: DbOption = None) -> None:
    """List the keys: client, key prefix, admin flag, created and revoked times (never the keys)."""
    from rich.console import Console
    from rich.table import Table

    store = _store(ctx, db)
    keys = store.list()
    table = Table(title=f"API keys in {store.path}", title_justify="left")
    table.add_column("client", no_wrap=True)
    table.add_column("key prefix", no_wrap=True)
    for column in ("admin", "created (UTC)", "revoked (UTC)"):
        table.add_column(column, no_wrap=True)
    for row in keys:
        revoked = row["revoked_at"]
        table.add_row(
            row["client_id"],
            row["key_prefix"] + "…",
            "yes" if row["admin"] else "",
            _clock(row["created_at"]),
            f"[red]{_clock(revoked)}[/red]" if revoked else "[green]active[/green]",
        )
    Console(emoji=False).print(table if keys else "no API keys yet: add one with `eliq clients add CLIENT`")


def _clock(iso_utc: str) -> str:
    """``2025-01-01T10:00:00+00:00`` as ``2025-01-01 10:00``: the column header says UTC."""
    return iso_utc.replace("T", " ")[:16]


@clients_app.command("revoke")
def revoke(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="A client id (revokes all its keys), a key prefix from `list`, or a key.")
    ],
    db: DbOption = None,
) -> None:
    """Revoke the keys of a client, or one key; they stop working at once."""
    from pipelines.cli.progress import console
    from serving.clients import KEY_MARKER, PREFIX_CHARS

    target = target.removesuffix("…")
    # A whole key given on the command line is not echoed back; its prefix is enough to recognise it.
    shown = target[:PREFIX_CHARS] + "…" if target.startswith(KEY_MARKER) else target
    count = _store(ctx, db).revoke(target)
    if count == 0:
        console.print(f"[red]error:[/red] no active key matches {shown!r} (a client id or a key prefix)")
        raise typer.Exit(code=1)
    console.print(f"[green]revoked[/green] {count} key(s) of {shown!r}")
