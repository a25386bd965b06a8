"""The commands of `deltaglider`, each loaded only when it runs.

A command's module (and what it imports: the service, boto3 for S3, ...) is imported
when that command is called, so `deltaglider --help` and `deltaglider ls` on a local
store start without the rest. `--help` lists the commands from the one-line summaries
kept here; a test holds each to its command's own docstring.
"""

from __future__ import annotations

import importlib

import click

# name: (module under deltaglider.app.cli, the first line of the command's docstring)
COMMANDS: dict[str, tuple[str, str]] = {
    "cp": ("cp", "Copy a local file or S3 object to another location locally or in S3."),
    "mv": ("mv", "Move a local file or S3 object to another location locally or in S3."),
    "ls": (
        "ls",
        "List buckets, or objects under s3://bucket[/prefix] by original names and sizes.",
    ),
    "rm": ("rm", "Delete s3://bucket/key (or, with --recursive, everything below a prefix)."),
    "sync": (
        "sync",
        "Sync directories and S3 prefixes: copy new and changed files to DESTINATION.",
    ),
    "mb": (
        "buckets",
        "Create the bucket s3://bucket (a key after it is ignored, as aws ignores it).",
    ),
    "rb": ("buckets", "Remove the bucket s3://bucket (it must be empty, unless --force)."),
    "presign": ("presign", "Print a presigned URL for s3://bucket/key, an object stored whole."),
    "put": ("cp", "Upload FILE to s3://bucket/prefix/ and say how it was stored."),
    "get": ("cp", "Download s3://bucket/key (to DESTINATION, default the current directory)."),
    "verify": ("report", "Rebuild s3://bucket/key and check its SHA256, keeping nothing."),
    "stats": (
        "report",
        "Logical bytes, stored bytes and savings per prefix, for s3://bucket[/prefix] or every "
        "bucket.",
    ),
    "migrate": (
        "migrate",
        "Copy every object under SOURCE (s3://bucket/prefix, plain S3) into DESTINATION "
        "(s3://bucket/prefix, stored as deltas).",
    ),
    "fsck": (
        "fsck",
        "Check s3://bucket[/prefix]: missing or changed references, unreadable metadata, keys "
        "stored twice, unused objects; with --verify every object's SHA256.",
    ),
    "serve": (
        "serve",
        "Serve the S3 API over HTTP, storing deltas: any S3 client, pointed here with "
        "--endpoint-url, gets delta storage.",
    ),
    "gc": (
        "gc",
        "Remove references no delta needs any more (and other unused internal objects) from "
        "the prefixes under s3://bucket[/prefix].",
    ),
}


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"deltaglider.app.cli.{COMMANDS[cmd_name][0]}")
        command: click.Command = getattr(module, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, _shortened(summary, limit)) for name, (_, summary) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _shortened(summary: str, limit: int) -> str:
    """The summary cut at a word to fit `limit` characters, as click shortens its own."""
    if len(summary) <= limit:
        return summary
    return summary[: limit - 3].rsplit(" ", 1)[0] + "..."
