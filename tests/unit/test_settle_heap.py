"""settle_heap: the engine's live objects are frozen out of the collector's way during calls, and cycles that
die later are still freed at the next idle moment (nothing leaks into the frozen set for good)."""

from __future__ import annotations

import gc
import weakref

from softphone.app import settle_heap


class Node:
    def __init__(self) -> None:
        self.me = self


def test_frozen_then_freed_on_the_next_settle() -> None:
    try:
        n = Node()
        ref = weakref.ref(n)
        settle_heap()
        assert gc.get_freeze_count() > 0
        del n
        gc.collect()
        assert ref() is not None           # frozen: a collection during a call does not walk it
        settle_heap()
        assert ref() is None               # the next idle settle looks again and frees the dead cycle
    finally:
        gc.unfreeze()
