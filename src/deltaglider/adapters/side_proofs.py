"""Recipes proven on the side while a content form is made (archive_container.py).

Proving a stream's recipe deflates all of its content, and the rest of the form need not
wait for it: the form is made with each recipe found at its stream's start, its proof
runs on a pool of provers meanwhile (zlib frees Python's lock), and the form is kept
only if every proof ends well. A stream proven in pieces may settle on other restarts
than those planned (deflate_pieces.PiecesProof): the form is then given those.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from deltaglider.adapters import content_form as form
from deltaglider.adapters.content_form import Buffer
from deltaglider.adapters.deflate import PROVEN, Deflate, digest, prove
from deltaglider.adapters.deflate_pieces import Pieces, PiecesProof, find_pieces

Settled = dict[int, Pieces]  # pieces settled on, by the identity of those planned


class SideProofs:
    """The proofs of one form's recipes, on `provers`."""

    def __init__(self, provers: ThreadPoolExecutor) -> None:
        self._provers = provers
        self._whole: list[Future[bool]] = []
        # Streams proven in pieces: the pieces the form was made with, the proof, its tasks.
        self._pieced: list[tuple[Pieces, PiecesProof, list[Future[bool]]]] = []

    def take(self, content: Buffer, raw: Buffer, params: Deflate) -> Pieces | None:
        """Start proving that `params` rebuild `raw` from `content`: in pieces side by
        side when the stream has restarts for them (the pieces planned, returned), else
        whole (None)."""
        plan = find_pieces(raw, len(content), params)
        if plan is None:
            self._whole.append(self._provers.submit(prove, content, raw, params))
            return None

        def known(settled: Pieces) -> None:
            PROVEN.put(digest(content), (params, settled), raw)

        proof = PiecesProof(content, raw, params, plan, done=known)
        tasks = [self._provers.submit(proof.piece, at) for at in range(proof.tasks)]
        self._pieced.append((plan.pieces, proof, tasks))
        return plan.pieces

    def settled(self) -> Settled | None:
        """Once every proof has ended: the pieces each stream proven in pieces settled
        on where they differ from those planned, or None when a proof failed (what a
        proof raised is raised here)."""
        results = [proof.result() for proof in self._whole]  # every proof waited for
        for _, _, tasks in self._pieced:
            for task in tasks:
                task.result()
        if not all(results):
            return None
        changed: Settled = {}
        for planned, proof, _ in self._pieced:
            pieces = proof.settled()
            if pieces is None:
                return None
            if pieces != planned:
                changed[id(planned)] = pieces
        return changed


def with_pieces(node: form.Node, settled: Settled) -> form.Node:
    """`node` with the pieces of its streams proven in pieces as they settled."""
    if isinstance(node, form.Blob):
        return node
    parts: list[form.Part] = []
    for part in node.parts:
        if isinstance(part, form.Deflated):
            pieces = settled.get(id(part.pieces), part.pieces)
            parts.append(replace(part, child=with_pieces(part.child, settled), pieces=pieces))
        elif isinstance(part, form.Stored | form.Inflated):
            parts.append(replace(part, child=with_pieces(part.child, settled)))
        else:
            parts.append(part)
    return form.Container(node.kind, parts)
