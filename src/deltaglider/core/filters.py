"""`--exclude` / `--include` as `aws s3` applies them, and `--[no-]follow-symlinks`.

Everything is included at first; the rules are applied in the order given and the last
one that matches a path decides. Patterns are shell globs (`*`, `?`, `[seq]`; `*` also
matches `/`) matched against the path relative to the source (or destination) root.
Symbolic links in a local tree are followed unless told not to (then they are left out,
silently, as aws leaves them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

Action = Literal["exclude", "include"]


@dataclass(frozen=True)
class FilterRule:
    action: Action
    pattern: str


@dataclass(frozen=True)
class Filters:
    """An ordered list of rules; `includes` tells whether a relative path passes."""

    rules: Sequence[FilterRule] = ()
    follow_symlinks: bool = True

    def includes(self, relative_path: str) -> bool:
        included = True
        for rule in self.rules:
            if fnmatchcase(relative_path, rule.pattern):
                included = rule.action == "include"
        return included
