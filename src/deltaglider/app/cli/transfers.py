"""Running a batch of transfers the way `aws s3` does: a bounded pool of workers, one
output line per finished operation, and the exit status of the whole batch.

Exit status: 1 if any operation failed, else 2 if anything was skipped with a warning,
else 0. `--quiet` prints nothing; `--only-show-errors` only failures and warnings.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from deltaglider.app.cli.aws_errors import error_line
from deltaglider.app.cli.output import human_size
from deltaglider.core import progress as passes
from deltaglider.core.budget import MemoryBudget
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.interruption import STOP_WAIT
from deltaglider.core.models import ObjectKey

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn, TaskID

WORKERS = 10  # as many as `aws s3` runs


@dataclass(frozen=True)
class Task:
    """One operation: `verb` is upload, download, copy or delete."""

    verb: str
    location: str  # "./a.zip to s3://b/a.zip", or "s3://b/a.zip" for a delete
    size: int
    run: Callable[[], object]
    silent: bool = False  # no line on success (a stream's data may be on stdout)
    origin: Path | ObjectKey | None = None  # what was transferred, for `mv` to remove
    peak: int = 0  # the memory it is expected to hold (core/budget.py), reserved first


@dataclass(frozen=True)
class OutputMode:
    quiet: bool = False
    only_show_errors: bool = False
    progress: bool = True
    dryrun: bool = False


class Reporter:
    """Prints results as aws does, keeps the counts, and draws a progress bar on a TTY."""

    def __init__(
        self,
        mode: OutputMode,
        on_interrupt: Callable[[], None] | None = None,
        *,
        budget: MemoryBudget | None = None,
        check: Callable[[], None] | None = None,
    ) -> None:
        """`on_interrupt` tells running transfers to stop (Ctrl-C); `budget` bounds the
        memory of those running side by side, each reserving its task's `peak` before
        it starts (`check`, the service's interruption check, stops a wait for it)."""
        self.mode = mode
        self.on_interrupt = on_interrupt
        self.budget = budget
        self.check = check
        self.failures = 0
        self.warnings = 0
        self._lock = threading.Lock()
        self._progress: Progress | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 2 if self.warnings else 0

    def success(self, task: Task) -> None:
        prefix = "(dryrun) " if self.mode.dryrun else ""
        if not (self.mode.quiet or self.mode.only_show_errors or task.silent):
            self._out(f"{prefix}{task.verb}: {task.location}")

    def failure(self, task: Task, error: Exception) -> None:
        with self._lock:
            self.failures += 1
        if not self.mode.quiet:
            self._err(f"{task.verb} failed: {task.location} {error_line(error)}")

    def warning(self, message: str) -> None:
        with self._lock:
            self.warnings += 1
        if not self.mode.quiet:
            self._err(f"warning: {message}")

    def fatal(self, error: Exception) -> None:
        """A failure that stops the command before its operations run."""
        with self._lock:
            self.failures += 1
        self._err(f"fatal error: {error_line(error)}")

    def _out(self, line: str) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
            else:
                click.echo(line)

    def _err(self, line: str) -> None:
        with self._lock:
            click.echo(line, err=True)

    def run(self, stages: Sequence[Sequence[Task]]) -> int:
        """Run the stages one after the other, each stage's tasks in parallel."""
        tasks = [task for stage in stages for task in stage]
        if self.mode.dryrun:
            for task in tasks:
                self.success(task)
            return self.exit_code
        show_bar = (
            self.mode.progress
            and not (self.mode.quiet or self.mode.only_show_errors)
            and sys.stdout.isatty()
            and len(tasks) > 0
        )
        if not show_bar:
            for stage in stages:
                self._run_stage(stage, None)
            return self.exit_code
        from rich.console import Console  # noqa: PLC0415 (loaded only to draw a bar)
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            _share_column(),
            TimeElapsedColumn(),
            console=Console(file=sys.stdout),
            transient=True,
        ) as progress:
            self._progress = progress
            bar = progress.add_task(
                f"{len(tasks)} file(s)", total=sum(t.size for t in tasks) or None
            )
            try:
                for stage in stages:
                    self._run_stage(stage, lambda size: _Share(progress, bar, size))
            finally:
                self._progress = None
        return self.exit_code

    def _run_stage(self, stage: Sequence[Task], share: Callable[[int], _Share] | None) -> None:
        if not stage:
            return
        pool = ThreadPoolExecutor(max_workers=min(WORKERS, len(stage)))
        pending: dict[Future[object], tuple[Task, _Share | None]] = {}
        for task in stage:
            part = share(task.size) if share else None
            running = pool.submit(_perform, task, part, self.budget, self.check)
            pending[running] = (task, part)
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task, part = pending.pop(future)
                    self._settle(task, future)
                    if part is not None:
                        part.fill()
        except KeyboardInterrupt:
            self._stop(pool, pending)
            raise
        pool.shutdown()

    def _stop(self, pool: ThreadPoolExecutor, running: Iterable[Future[object]]) -> None:
        """Ctrl-C: no task starts any more, and those running stop at their next safe
        point (the service's interruption); they get a moment to, and no more: the way
        out (main.py) does not wait for a transfer still in a long step."""
        if self.on_interrupt is not None:
            self.on_interrupt()
        pool.shutdown(wait=False, cancel_futures=True)
        wait(running, timeout=STOP_WAIT)

    def _settle(self, task: Task, future: Future[object]) -> None:
        error = future.exception()
        if error is None:
            self.success(task)
        elif isinstance(error, DeltaGliderError | OSError):
            self.failure(task, error)
        else:
            self.failure(task, RuntimeError(f"unexpected {type(error).__name__}: {error}"))


def _perform(
    task: Task,
    share: _Share | None,
    budget: MemoryBudget | None,
    check: Callable[[], None] | None,
) -> object:
    """Run the task in this worker thread once its memory is reserved, its passes
    reported to its share of the bar."""
    with budget.reserved(task.peak, check) if budget else nullcontext():
        if share is None:
            return task.run()
        with passes.watched(share.report):
            return task.run()


class _Share:
    """One transfer's part of the bar, as many units as its size. A transfer makes a
    varying number of passes over its bytes (read, hashed, encoded, checked, sent), so
    each pass fills half of what is left of its part: the bar moves through every phase,
    never runs ahead, and is full when the transfer ends."""

    def __init__(self, progress: Progress, bar: TaskID, size: int) -> None:
        self._progress, self._bar, self._size = progress, bar, size
        self._seen = 0  # bytes reported by the passes so far
        self._filled = 0.0
        self._lock = threading.Lock()  # boto3 reports from its own threads

    def report(self, count: int) -> None:
        with self._lock:
            self._seen += count
            target = self._size * (1 - 0.5 ** (self._seen / max(self._size, 1)))
            step, self._filled = target - self._filled, max(target, self._filled)
        if step > 0:
            self._progress.advance(self._bar, step)

    def fill(self) -> None:
        with self._lock:
            step, self._filled = self._size - self._filled, self._size
        if step > 0:
            self._progress.advance(self._bar, step)


def _share_column() -> ProgressColumn:
    """`42% of 1.2 GiB`, in the units `ls --human-readable` uses."""
    from rich.progress import ProgressColumn  # noqa: PLC0415
    from rich.progress import Task as Bar  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    class Share(ProgressColumn):
        def render(self, task: Bar) -> Text:
            total = "?" if task.total is None else human_size(int(task.total))
            return Text(f"{task.percentage:3.0f}% of {total}")

    return Share()
