"""Run the evaluation's small tensor ops on one intra-op thread.

Resizing and scoring one image is a few dozen operations on arrays of some 10^5 elements: each
is just above torch's parallel grain, so with several OpenMP threads every one becomes a parallel
region whose barrier waits for all threads. On a busy machine a thread that lost its core stalls
every barrier; measured on 2 cores at load ~10, two threads made MATLAB-exact degradation of
BSD100 5-10x slower than one thread (benchmarks/bench_eval.py), while on these sizes a second
thread gains little even on an idle machine.

torch keeps the OpenMP thread count per calling thread (and MKL's with ``mkl_set_num_threads_local``),
so narrowing it here leaves other Python threads' settings alone; it also updates the default
that threads starting their first torch op meanwhile would inherit, which is restored on exit.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["single_intraop_thread"]


@contextmanager
def single_intraop_thread() -> Iterator[None]:
    """Within the block, torch runs CPU ops on the calling thread only; the previous count is restored."""
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
