"""The `deltaglider` command group and its entry point, which turns every failure into
one line on stderr and an `aws s3`-style exit status (0 ok, 1 failed transfer,
2 usage, 130 interrupted, 255 anything else)."""

from __future__ import annotations

import logging
import signal
import sys
import traceback

import click

from deltaglider import __version__
from deltaglider.adapters.stdlog import LOGGER_NAME
from deltaglider.app.cli.aws_errors import error_line
from deltaglider.app.cli.buckets import mb, rb
from deltaglider.app.cli.context import Fatal, storage_options
from deltaglider.app.cli.cp import cp, get, put
from deltaglider.app.cli.fsck import fsck
from deltaglider.app.cli.gc import gc
from deltaglider.app.cli.locations import BadLocation
from deltaglider.app.cli.ls import ls
from deltaglider.app.cli.migrate import migrate
from deltaglider.app.cli.report import stats, verify
from deltaglider.app.cli.rm import rm
from deltaglider.app.cli.serve import serve
from deltaglider.app.cli.sync import sync
from deltaglider.core.errors import DeltaGliderError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_FATAL = 255


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deltaglider")
@storage_options
@click.pass_context
def cli(
    context: click.Context, endpoint_url: str | None, region: str | None, profile: str | None
) -> None:
    """Store versioned artifacts in S3 as binary deltas: `aws s3` commands, fewer bytes.

    Endpoint: --endpoint-url or AWS_ENDPOINT_URL; http(s)://... is an S3 service,
    file:///abs/path a local store (buckets are its subdirectories). The storage
    options work before the command (as `aws --endpoint-url URL s3 ...`) or after it.
    """
    context.meta.update(endpoint_url=endpoint_url, region=region, profile=profile)


for command in (cp, ls, rm, sync, mb, rb, put, get, verify, stats, migrate, fsck, gc, serve):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its status; never show a traceback.

    SIGTERM ends the process as SIGINT does, through the normal exit path, so
    temporary files and the private cache directory are removed either way.
    """
    signal.signal(signal.SIGTERM, _terminated)
    sys.exit(run(argv))


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(argv: list[str] | None = None) -> int:
    """Run one command line; its exit status. Errors print as the AWS CLI prints them."""
    arguments = sys.argv[1:] if argv is None else argv
    try:
        with cli.make_context("deltaglider", list(arguments)) as context:
            context.meta["argv"] = list(arguments)  # --exclude/--include order, see context.py
            status = cli.invoke(context)
    except click.exceptions.Exit as exc:  # --help, --version
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):  # Abort: click's form of Ctrl-C
        _fail("cancelled: ctrl-c received")
        return EXIT_INTERRUPTED
    except click.NoSuchOption as exc:
        _fail(f"\nUnknown options: {exc.option_name}")
        return EXIT_FATAL
    except click.UsageError as exc:
        exc.show()
        return EXIT_USAGE
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (Fatal, BadLocation) as exc:
        _fail(f"\n{exc}")
        return EXIT_FATAL
    except DeltaGliderError as exc:
        _fail(f"\nfatal error: {error_line(exc)}")
        return EXIT_FATAL
    except Exception as exc:
        logging.getLogger(LOGGER_NAME).debug("%s", traceback.format_exc())
        _fail(
            f"\nfatal error: unexpected {type(exc).__name__}: {exc} "
            "(DG_LOG_LEVEL=DEBUG shows the details)"
        )
        return EXIT_FATAL
    return status if isinstance(status, int) else 0


def _fail(message: str) -> None:
    click.echo(message, err=True)
