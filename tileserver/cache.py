"""A thread-safe LRU cache of encoded tiles, bounded in bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sized
from typing import Any

__all__ = ["TileCache"]


class TileCache:
    """Least-recently-used store of sized values, at most ``max_bytes`` in total.

    Values are anything with ``len()`` (``bytes``, or tiles whose length is
    their encoded size).

    Parameters
    ----------
    max_bytes : int
        Capacity; 0 disables caching.

    Examples
    --------
    >>> cache = TileCache(10)
    >>> cache.put("a", b"12345"); cache.put("b", b"123456")
    >>> cache.get("a") is None, cache.get("b")
    (True, b'123456')
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The value stored under ``key`` (marked as recently used), or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Sized) -> None:
        """Store ``value``, evicting the least recently used values to make room."""
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = value
            self._bytes += len(value)
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= len(evicted)

    def clear(self) -> None:
        """Drop every value."""
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes currently stored."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)
