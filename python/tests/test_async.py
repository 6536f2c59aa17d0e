"""mlos.AsyncClient over every transport: the same answers and errors as the sync client, and
concurrent calls that really run at once."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

import mlos
from conftest import Models


@pytest.mark.asyncio
async def test_async_client_matches_the_sync_one(url: str) -> None:
    xs = [np.full((1, 16), i * 0.25, np.float32) for i in range(8)]
    with mlos.Client(url) as sync:
        want = [sync.infer(Models.mlp, {"input": x})["probs"] for x in xs]
    async with mlos.AsyncClient(url) as c:
        assert await c.live() is True
        assert await c.health() == {"live": True, "ready": True}
        assert (await c.get_model(Models.mlp)).state == "READY"
        assert Models.mlp in {m.id for m in await c.models()}
        outs = await asyncio.gather(*(c.infer(Models.mlp, {"input": x}) for x in xs))
        for got, expected in zip(outs, want):
            assert got["probs"].tobytes() == expected.tobytes()
        with pytest.raises(mlos.NotFoundError):
            await c.infer("test/no-such-model", {"input": xs[0]})
        with pytest.raises(mlos.InvalidArgumentError, match="input"):
            await c.infer(Models.mlp, {"input": xs[0].astype(np.int64)})
        with pytest.raises(mlos.DeadlineExceededError):
            await c.infer(Models.slow, {"input": np.ones(2, np.float32)}, timeout=0.3)


@pytest.mark.asyncio
async def test_async_calls_run_concurrently(url: str) -> None:
    # test/nap sleeps 0.5 s per request: four at once take about 0.5 s, in turn 2 s. (mlosd
    # runs HTTP requests on its io threads: the harness gives it 4.)
    async with mlos.AsyncClient(url, max_connections=4) as c:
        one = {"input": np.ones(1, np.float32)}
        await asyncio.gather(*(c.infer(Models.nap, one) for _ in range(4)))  # connections
        start = time.monotonic()
        outs = await asyncio.gather(*(
            c.infer(Models.nap, {"input": np.full(2, i, np.float32)}) for i in range(4)))
        elapsed = time.monotonic() - start
    assert [o["output"].tolist() for o in outs] == [[i, i] for i in range(4)]
    assert elapsed < 1.6, f"4 concurrent 0.5 s requests took {elapsed:.2f} s"
