"""Shared memory the client owns, for the zero-copy path over ``unix://`` (docs/ipc.md).

:class:`SharedMemory` is one memfd (``os.memfd_create``), sized, sealed against shrinking and
growing (mlosd refuses a memfd without F_SEAL_SHRINK) and mapped read-write. Its descriptor is
passed to mlosd with SCM_RIGHTS; mlosd maps the same pages, reads inputs there and has the
model write outputs there.

:class:`Arena` is the reusable set of regions an IPC client infers through. Every input that is
not in a region yet is copied into a block of one (once), every output gets a block to be
written into, and the output arrays returned are views of those blocks. A block is leased to
the arrays that view it: it goes back to the arena when the last of them (and of any view
derived from them) is garbage, so the next request reuses it. Arrays never dangle: the mapping
stays until every view of it is gone, even after the client is closed.

Threading: an Arena is used under its IPC client's lock; blocks are freed from whichever thread
drops the last view (an RLock guards the free lists).
"""

from __future__ import annotations

import collections
import ctypes
import fcntl
import mmap
import os
import threading
import uuid
import weakref
from typing import Any

import numpy as np

ALIGN = 64  # every block starts 64-byte aligned (aligned for every dtype, and cache lines)
MIN_REGION = 4 << 20
_PAGE = 2 << 20


class SharedMemory:
    """A memfd of `size` bytes, mapped read-write and sealed (shrink, grow, seal)."""

    def __init__(self, size: int, debug_name: str = "mlos") -> None:
        if size <= 0:
            raise ValueError("a shared-memory region needs at least one byte")
        fd = os.memfd_create(debug_name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(fd, size)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                        fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
            self._mmap = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.size = size
        #: The whole region as uint8 (np.shares_memory(output, region.array) is True for the
        #: outputs placed here).
        self.array: np.ndarray = np.frombuffer(self._mmap, dtype=np.uint8)
        self.address: int = self.array.ctypes.data

    @property
    def fd(self) -> int:
        """The memfd (-1 once closed); what SHM_REGISTER passes."""
        return self._fd

    def window(self, offset: int, nbytes: int) -> Any:
        """A ctypes object over [offset, offset + nbytes): a buffer numpy arrays can view; the
        mapping stays while it lives."""
        if offset < 0 or offset + nbytes > self.size:
            raise ValueError(f"window [{offset}, {offset + nbytes}) outside {self.size} bytes")
        return (ctypes.c_char * nbytes).from_buffer(self._mmap, offset)

    def ndarray(self, offset: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """An array viewing the region at `offset` (no copy)."""
        dt = np.dtype(dtype)
        n = dt.itemsize * int(np.prod(shape, dtype=np.int64))
        return np.frombuffer(self.window(offset, n), dtype=dt).reshape(shape)

    def offset_of(self, arr: np.ndarray) -> int | None:
        """Where a C-contiguous array lies in this region, or None when it is elsewhere."""
        if not arr.flags.c_contiguous or arr.nbytes == 0:
            return None
        p = arr.ctypes.data
        if self.address <= p and p + arr.nbytes <= self.address + self.size:
            return p - self.address
        return None

    def close(self) -> None:
        """Closes the descriptor. The mapping stays until the last array viewing it is gone."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> SharedMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Region:
    """One arena region: its memory, the name it is registered under, its free spans."""

    def __init__(self, size: int) -> None:
        self.memory = SharedMemory(size, "mlos-py")
        self.name = f"mlos-py-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.free: list[list[int]] = [[0, size]]  # [offset, size], sorted, coalesced
        self.registered_gen = -1  # the IPC connection generation it is registered on
        self.retired = False      # never allocated from again (see Arena.retire)

    @property
    def idle(self) -> bool:
        return len(self.free) == 1 and self.free[0] == [0, self.memory.size]


class Block:
    __slots__ = ("region", "offset", "size")

    def __init__(self, region: Region, offset: int, size: int) -> None:
        self.region, self.offset, self.size = region, offset, size


class Arena:
    def __init__(self, min_region: int = MIN_REGION) -> None:
        self.regions: list[Region] = []
        self._min_region = min_region
        self._lock = threading.RLock()
        # Blocks given back, merged into the free lists by the next allocate/droppable (a
        # finalizer may run in the middle of an allocation: it must not edit the lists then).
        self._returned: collections.deque[Block] = collections.deque()

    def allocate(self, nbytes: int, call_bytes: int) -> Block:
        """A block of at least `nbytes` (64-byte aligned), first fit; a new region (twice what
        the whole call needs, `call_bytes`) when none has room."""
        size = max(ALIGN, -(-nbytes // ALIGN) * ALIGN)
        with self._lock:
            self._merge_returned()
            for region in self.regions:
                if region.retired:
                    continue
                for span in region.free:
                    if span[1] >= size:
                        block = Block(region, span[0], size)
                        span[0] += size
                        span[1] -= size
                        if span[1] == 0:
                            region.free.remove(span)
                        return block
            want = max(self._min_region, 2 * max(call_bytes, size))
            region = Region(-(-want // _PAGE) * _PAGE)
            self.regions.append(region)
            block = Block(region, 0, size)
            region.free = [[size, region.memory.size - size]]
            return block

    def free(self, block: Block) -> None:
        """Gives a block back (any thread, also from a finalizer)."""
        self._returned.append(block)

    def _merge_returned(self) -> None:
        while self._returned:
            block = self._returned.popleft()
            spans = block.region.free
            spans.append([block.offset, block.size])
            spans.sort()
            merged: list[list[int]] = []
            for s in spans:
                if merged and merged[-1][0] + merged[-1][1] == s[0]:
                    merged[-1][1] += s[1]
                else:
                    merged.append(s)
            block.region.free = merged

    def lease(self, block: Block, nbytes: int) -> Any:
        """A buffer over the first `nbytes` of `block` that returns the block to the arena when
        it (and every array viewing it) is garbage."""
        buf = block.region.memory.window(block.offset, nbytes)
        weakref.finalize(buf, self.free, block)
        return buf

    def locate(self, arr: np.ndarray) -> tuple[Region, int] | None:
        """The region and offset of an array that already lives in the arena."""
        with self._lock:
            for region in self.regions:
                off = region.memory.offset_of(arr)
                if off is not None:
                    return region, off
        return None

    def retire(self, region: Region) -> None:
        """Stops allocating from `region` (its blocks may still be written by a request the
        client gave up on); it is dropped once idle."""
        with self._lock:
            region.retired = True

    def droppable(self) -> list[Region]:
        """Idle regions to unregister and drop: retired ones, and any idle one smaller than
        another region (the largest is kept for reuse)."""
        with self._lock:
            self._merge_returned()
            if not self.regions:
                return []
            largest = max(r.memory.size for r in self.regions if not r.retired) \
                if any(not r.retired for r in self.regions) else 0
            kept_largest = False
            out: list[Region] = []
            for r in self.regions:
                if not r.idle:
                    continue
                if r.retired or r.memory.size < largest or kept_largest:
                    out.append(r)
                else:
                    kept_largest = True
            for r in out:
                self.regions.remove(r)
            return out
