"""From command-line locations to lists of operations: the file generators (local walk,
S3 logical listing), filters, and the per-file transfer tasks of cp, sync and rm."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from deltaglider.app.cli.locations import S3Location, relative_path
from deltaglider.app.cli.publish import StoreOptions, copy, publish
from deltaglider.app.cli.transfers import Task
from deltaglider.core.budget import estimate
from deltaglider.core.filters import Filters
from deltaglider.core.models import DeltaSpace, LogicalObject, ObjectKey
from deltaglider.core.policy import DeltaPolicy
from deltaglider.core.service import DeltaService
from deltaglider.core.sync import FileStat

Warn = Callable[[str], None]


@dataclass(frozen=True)
class LocalTree:
    """Files under a local directory, keyed by their relative path with `/`."""

    root: Path

    def files(self, filters: Filters, warn: Warn) -> list[FileStat]:
        found: list[FileStat] = []
        for path in sorted(self._walk(filters.follow_symlinks)):
            key = path.relative_to(self.root).as_posix()
            if not filters.includes(key) or (not filters.follow_symlinks and path.is_symlink()):
                continue
            try:
                info = path.stat()
            except OSError:
                warn(f"Skipping file {path}. File does not exist.")
                continue
            if not stat.S_ISREG(info.st_mode):
                warn(
                    f"Skipping file {path}. File is character special device, "
                    "block special device, FIFO, or socket."
                )
                continue
            if not os.access(path, os.R_OK):
                warn(f"Skipping file {path}. File/Directory is not readable.")
                continue
            found.append(FileStat(key, info.st_size, datetime.fromtimestamp(info.st_mtime, UTC)))
        return sorted(found, key=lambda f: f.key.encode())

    def _walk(self, follow_symlinks: bool) -> Iterator[Path]:
        for dirpath, _, filenames in os.walk(self.root, followlinks=follow_symlinks):
            for name in filenames:
                yield Path(dirpath, name)

    def path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))


def as_directory(location: S3Location) -> S3Location:
    """A recursive operation treats `s3://b/dir` as the prefix `dir/`, as aws does."""
    if location.key and not location.key.endswith("/"):
        return S3Location(location.bucket, location.key + "/")
    return location


def s3_objects(service: DeltaService, root: S3Location, filters: Filters) -> list[FileStat]:
    """Logical objects below a prefix, keyed relative to it."""
    found = []
    for entry in service.list(root.bucket, root.key, recursive=True):
        if not isinstance(entry, LogicalObject) or entry.key.endswith("/"):
            continue  # "folder" marker objects are not files
        key = entry.key[len(root.key) :]
        if filters.includes(key):
            found.append(FileStat(key, entry.size, entry.last_modified))
    return found


def upload_tasks(
    service: DeltaService,
    tree: LocalTree,
    files: Sequence[FileStat],
    root: S3Location,
    storing: StoreOptions,
) -> list[list[Task]]:
    tasks, targets = [], []
    for file in files:
        path, target = tree.path(file.key), ObjectKey(root.bucket, root.key + file.key)
        targets.append(target)
        tasks.append(
            Task(
                "upload",
                f"{relative_path(path)} to {target}",
                file.size,
                partial(publish, service, path, target, storing),
                origin=path,
                peak=estimate(service.policy, target.name, file.size),
            )
        )
    return pioneers_first(tasks, targets, service.policy, files)


def download_tasks(
    service: DeltaService, root: S3Location, files: Sequence[FileStat], tree: LocalTree
) -> list[list[Task]]:
    tasks = []
    for file in files:
        source, path = ObjectKey(root.bucket, root.key + file.key), tree.path(file.key)
        tasks.append(
            Task(
                "download",
                f"{source} to {relative_path(path)}",
                file.size,
                partial(service.get, source, path),
                origin=source,
                peak=estimate(service.policy, source.name, file.size),
            )
        )
    return [tasks]


def copy_tasks(
    service: DeltaService,
    root: S3Location,
    files: Sequence[FileStat],
    target_root: S3Location,
    storing: StoreOptions,
) -> list[list[Task]]:
    tasks, targets = [], []
    for file in files:
        source = ObjectKey(root.bucket, root.key + file.key)
        target = ObjectKey(target_root.bucket, target_root.key + file.key)
        targets.append(target)
        tasks.append(
            Task(
                "copy",
                f"{source} to {target}",
                file.size,
                partial(copy, service, source, target, storing),
                origin=source,
                peak=estimate(service.policy, source.name, file.size)
                + estimate(service.policy, target.name, file.size),
            )
        )
    return pioneers_first(tasks, targets, service.policy, files)


def delete_tasks(service: DeltaService, root: S3Location, keys: Sequence[str]) -> list[Task]:
    tasks = []
    for key in keys:
        target = ObjectKey(root.bucket, root.key + key)
        tasks.append(Task("delete", str(target), 0, partial(service.delete, target)))
    return tasks


def local_delete_tasks(tree: LocalTree, keys: Sequence[str]) -> list[Task]:
    return [Task("delete", relative_path(tree.path(key)), 0, tree.path(key).unlink) for key in keys]


def pioneers_first(
    tasks: Sequence[Task],
    targets: Sequence[ObjectKey],
    policy: DeltaPolicy,
    files: Sequence[FileStat],
) -> list[list[Task]]:
    """Two stages: first, in each DeltaSpace, the first delta candidate in key order;
    then everything else. Which file becomes a new DeltaSpace's reference is then the
    same on every run, however the workers are scheduled."""
    first: dict[DeltaSpace, int] = {}
    for index, (target, file) in enumerate(zip(targets, files, strict=True)):
        if policy.should_use_delta(target.name, file.size):
            first.setdefault(target.delta_space, index)
    chosen = set(first.values())
    return [
        [t for i, t in enumerate(tasks) if i in chosen],
        [t for i, t in enumerate(tasks) if i not in chosen],
    ]
