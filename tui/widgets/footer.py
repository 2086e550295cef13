"""Textual's Footer without its leak: every recompose (each focus change) left the old FooterKeys alive.

In textual 8.2.8 each FooterKey data-binds `compact` to its Footer, which appends a watcher (the key and a setter)
to the Footer's own watcher list. Removed keys are pruned from that list only when `compact` changes, which never
happens here, so each focus change kept ~15 dead keys with their styles and caches: ~1 MiB per `tab` in bench 10.
This Footer prunes watchers of closed nodes after each recompose, by the rule Textual itself applies.
"""

from __future__ import annotations

from textual.widgets import Footer


def prune_closed_watchers(node: object) -> int:
    """Drop the watchers registered on `node` by nodes that have since closed; how many were dropped."""
    dropped = 0
    for watchers in getattr(node, "__watchers", {}).values():
        kept = [(reactable, callback) for reactable, callback in watchers if not reactable._closing]
        dropped += len(watchers) - len(kept)
        watchers[:] = kept
    return dropped


class BoundedFooter(Footer):
    """The key footer; its dead keys are let go after each recompose."""

    async def recompose(self) -> None:
        await super().recompose()
        prune_closed_watchers(self)
