"""A list that keeps only its newest items: a ``deque(maxlen=...)`` at a list's size.

Every chat's projection holds two such windows (history, our sent ids), and most chats
hold only a few items in them. An empty ``deque`` allocates a 64-slot block (760 bytes);
a list grows with what it holds, so a passivated chat costs what it remembers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, SupportsIndex, TypeVar

__all__ = ["BoundedList"]

_T = TypeVar("_T")


class BoundedList(list[_T], Generic[_T]):
    """A list whose ``append`` and ``extend`` drop the oldest items beyond ``limit``.

    Args:
        limit: the most items kept.
        items: the initial items (only the newest ``limit`` are kept).
    """

    __slots__ = ("limit",)

    def __init__(self, limit: int, items: Iterable[_T] = ()) -> None:
        super().__init__()
        self.limit = limit
        self.extend(items)

    def append(self, item: _T) -> None:
        """Add ``item`` as the newest; drop the oldest if over the limit."""
        super().append(item)
        if len(self) > self.limit:
            del self[0]

    def extend(self, items: Iterable[_T]) -> None:
        """Add ``items`` as the newest, in order; drop the oldest beyond the limit."""
        super().extend(items)
        excess = len(self) - self.limit
        if excess > 0:
            del self[:excess]

    def insert(self, index: SupportsIndex, item: _T) -> None:
        """Insert ``item`` at ``index``; drop the oldest if over the limit."""
        super().insert(index, item)
        if len(self) > self.limit:
            del self[0]
