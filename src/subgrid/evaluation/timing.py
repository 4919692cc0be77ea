"""Wall-clock timing of a call, as the speed benchmark and the demo's speed table measure it."""

from __future__ import annotations

import time
from collections.abc import Callable


def seconds_per_call(call: Callable[[], object], seconds: float = 0.3, repeats: int = 3) -> tuple[float, int]:
    """Best of ``repeats`` averages over enough calls to last about ``seconds``, and that call count.

    The first call (warm-up: lazy initialisation, graph optimisation) is not timed.
    """
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    calls = max(1, min(10_000, int(seconds / max(first, 1e-7))))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter() - start) / calls)
    return best, calls
