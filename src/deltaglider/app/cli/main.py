"""The `deltaglider` command group and its entry point, which turns every failure into
one line on stderr and an `aws s3`-style exit status (0 ok, 1 failed transfer,
2 usage, 130 interrupted, 255 anything else)."""

from __future__ import annotations

import os
import signal
import sys

import click

from deltaglider import __version__
from deltaglider.app.allocator import keep_large_buffers
from deltaglider.app.cli.aws_errors import Fatal, error_line
from deltaglider.app.cli.commands import LazyGroup
from deltaglider.app.cli.options import storage_options
from deltaglider.core import scratch
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.interruption import STOP_WAIT, settle

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_FATAL = 255


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its status; never show a traceback.

    SIGTERM ends the process as SIGINT does. Interrupted, the process removes its
    temporary files and private cache, lets the few writes that must not be cut in two
    finish, and ends at once, without waiting for transfers still in a long step (those
    store nothing more: they stop at their next safe point, core/interruption.py).
    """
    signal.signal(signal.SIGTERM, _terminated)
    keep_large_buffers()
    status = run(argv)
    if status == EXIT_INTERRUPTED:
        settle(timeout=2 * STOP_WAIT)
        scratch.remove_tracked()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


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
    except BrokenPipeError:  # stdout closed early (`ls | head -1`): as aws says it
        _silence_stdout()
        _fail("\n[Errno 32] Broken pipe")
        return EXIT_FATAL
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
    except Fatal as exc:  # BadLocation among them
        _fail(f"\n{exc}")
        return EXIT_FATAL
    except DeltaGliderError as exc:
        _fail(f"\nfatal error: {error_line(exc)}")
        return EXIT_FATAL
    except Exception as exc:
        _log_traceback()
        _fail(
            f"\nfatal error: unexpected {type(exc).__name__}: {exc} "
            "(DG_LOG_LEVEL=DEBUG shows the details)"
        )
        return EXIT_FATAL
    return status if isinstance(status, int) else 0


def _log_traceback() -> None:
    """The unexpected error's traceback, for DG_LOG_LEVEL=DEBUG (loaded only then)."""
    import logging  # noqa: PLC0415
    import traceback  # noqa: PLC0415

    from deltaglider.adapters.stdlog import LOGGER_NAME  # noqa: PLC0415

    logging.getLogger(LOGGER_NAME).debug("%s", traceback.format_exc())


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it on the way out raises nothing more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _fail(message: str) -> None:
    click.echo(message, err=True)
