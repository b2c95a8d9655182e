"""Items kept in key order in small chunks, so a snapshot of them costs the chunks, not the items.

A live report (`agentstop.live_report`) holds each list of the four-way report
(Done by call number, Undoable by latest commit, ...) as an `OrderedItems`,
and patches it as calls change: an insert, a removal or a replacement rebuilds
one chunk of at most `_MAX` items. Handing the lists out in a `Report` must
not copy them either, or a session of 100,000 calls would pay for all of them
at every batch of events: `OrderedItems.view()` returns an `ItemsView`, a
read-only `Sequence` over the chunks as they are at that moment. The chunks
are tuples, never changed in place (a change makes a new tuple for its chunk),
so the view stays as it was while the live lists move on, and taking it costs
one pointer per chunk. (A `Report` made from views copies each into its tuple
only when that list is first read: `Report.of_lists`.)
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

__all__ = ["ItemsView", "OrderedItems"]

T = TypeVar("T")

_MAX = 512
"""A chunk that grows past this is split in two: a change costs at most this many pointer copies."""

_MIN = _MAX // 8
"""A chunk that shrinks below this is merged into its neighbour, so the chunks stay few."""


class ItemsView(Sequence[T]):
    """A read-only snapshot of an `OrderedItems`, in key order, that shares its chunks.

    Length, iteration and truth cost nothing extra; the first index lookup
    computes where each chunk starts (one pass over the chunks, not the items).
    """

    __slots__ = ("_chunks", "_len", "_starts")

    def __init__(self, chunks: tuple[tuple[T, ...], ...], length: int) -> None:
        self._chunks = chunks
        self._len = length
        self._starts: list[int] | None = None

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[T]:
        return itertools.chain.from_iterable(self._chunks)

    def __reversed__(self) -> Iterator[T]:
        return itertools.chain.from_iterable(reversed(chunk) for chunk in reversed(self._chunks))

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...

    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        if isinstance(index, slice):
            return tuple(self)[index]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("ItemsView index out of range")
        starts = self._starts
        if starts is None:
            starts = self._starts = list(itertools.accumulate((len(c) for c in self._chunks), initial=0))
        at = bisect.bisect_right(starts, index) - 1
        return self._chunks[at][index - starts[at]]

    def __repr__(self) -> str:
        return f"ItemsView({list(self)!r})"


class OrderedItems(Generic[T]):
    """Items under unique integer keys, in key order, changed one at a time (see the module).

    Every change costs a binary search over the chunks' largest keys and a
    rebuild of one chunk: O(log S + `_MAX`) for S items, whatever S is.
    """

    __slots__ = ("_items", "_keys", "_len", "_maxes")

    def __init__(self) -> None:
        self._keys: list[list[int]] = []
        """Each chunk's keys, ascending (private, so plain lists changed in place)."""
        self._items: list[tuple[T, ...]] = []
        """Each chunk's items, in the order of its keys (tuples: views share them)."""
        self._maxes: list[int] = []
        """Each chunk's largest key: which chunk a key belongs to."""
        self._len = 0

    @classmethod
    def of_sorted(cls, pairs: Iterable[tuple[int, T]]) -> OrderedItems[T]:
        """Build from (key, item) pairs already in ascending key order, keys unique: O(S), one chunk at a time."""
        made: OrderedItems[T] = cls()
        half = _MAX // 2
        keys: list[int] = []
        items: list[T] = []
        for key, item in pairs:
            keys.append(key)
            items.append(item)
            if len(keys) == half:
                made._append_chunk(keys, items)
                keys, items = [], []
        if keys:
            made._append_chunk(keys, items)
        return made

    def _append_chunk(self, keys: list[int], items: list[T]) -> None:
        if self._maxes and keys[0] <= self._maxes[-1]:
            raise ValueError("OrderedItems.of_sorted needs unique keys in ascending order")
        self._keys.append(keys)
        self._items.append(tuple(items))
        self._maxes.append(keys[-1])
        self._len += len(keys)

    def __len__(self) -> int:
        return self._len

    def view(self) -> ItemsView[T]:
        """The items as they are now, in key order: costs one pointer per chunk."""
        return ItemsView(tuple(self._items), self._len)

    def _chunk_of(self, key: int) -> int:
        at = bisect.bisect_left(self._maxes, key)
        return at if at < len(self._maxes) else len(self._maxes) - 1

    def put(self, key: int, item: T) -> None:
        """Insert `item` under `key`, or replace the item already there."""
        if not self._keys:
            self._keys.append([key])
            self._items.append((item,))
            self._maxes.append(key)
            self._len = 1
            return
        at = self._chunk_of(key)
        keys, items = self._keys[at], self._items[at]
        i = bisect.bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            self._items[at] = (*items[:i], item, *items[i + 1 :])
            return
        keys.insert(i, key)
        self._items[at] = (*items[:i], item, *items[i:])
        self._maxes[at] = keys[-1]
        self._len += 1
        if len(keys) > _MAX:
            half = len(keys) // 2
            chunk = self._items[at]
            self._keys[at : at + 1] = [keys[:half], keys[half:]]
            self._items[at : at + 1] = [chunk[:half], chunk[half:]]
            self._maxes[at : at + 1] = [keys[half - 1], keys[-1]]

    def remove(self, key: int) -> None:
        """Take out the item under `key`; raises `KeyError` when there is none."""
        at = self._chunk_of(key) if self._keys else -1
        keys = self._keys[at] if at >= 0 else []
        i = bisect.bisect_left(keys, key)
        if i == len(keys) or keys[i] != key:
            raise KeyError(key)
        del keys[i]
        items = self._items[at]
        self._items[at] = (*items[:i], *items[i + 1 :])
        self._len -= 1
        if not keys:
            del self._keys[at], self._items[at], self._maxes[at]
            return
        self._maxes[at] = keys[-1]
        if len(keys) < _MIN and len(self._keys) > 1:
            self._merge(at if at + 1 < len(self._keys) else at - 1)

    def _merge(self, at: int) -> None:
        """Join chunk `at` and the next one (split again if that makes one too large)."""
        keys = self._keys[at] + self._keys[at + 1]
        items = self._items[at] + self._items[at + 1]
        if len(keys) > _MAX:
            half = len(keys) // 2
            self._keys[at : at + 2] = [keys[:half], keys[half:]]
            self._items[at : at + 2] = [items[:half], items[half:]]
            self._maxes[at : at + 2] = [keys[half - 1], keys[-1]]
        else:
            self._keys[at : at + 2] = [keys]
            self._items[at : at + 2] = [items]
            self._maxes[at : at + 2] = [keys[-1]]

    def __repr__(self) -> str:
        pairs: list[Any] = list(zip(itertools.chain.from_iterable(self._keys), self.view(), strict=True))
        return f"OrderedItems({pairs!r})"
