"""The facts of a ``torchrun`` launch, in one place: who we are, which device, and how ranks agree.

``torchrun`` (torch.distributed elastic) starts one process per rank and tells each its place through
the environment: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT``. Without them a command runs as one process, exactly as it always has: every helper
here is then a no-op (a barrier returns, a gather returns ``[value]``).

The process group is gloo on CPU-only machines and ``cpu:gloo,cuda:nccl`` where CUDA exists, so small
Python objects (plans, results, argument lists) travel over gloo on the CPU and tensors of a CUDA
network over NCCL.
"""
from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from restore.errors import DataError, RestoreError

__all__ = ["World", "DistributedError", "balanced_shares", "pixel_weight", "session", "world"]

T = TypeVar("T")

# What torchrun (or any env:// launcher, e.g. a SLURM script) sets for every rank.
_LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class DistributedError(RestoreError):
    """The ranks of one launch disagree (arguments, a failed step on some rank): nothing was done."""


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of a launch (one rank of one when not launched)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    launched: bool = False  # started by torchrun (or another env:// launcher)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> World:
        env = os.environ if environ is None else environ
        if not all(name in env for name in _LAUNCH_VARIABLES):
            return cls()
        size = int(env["WORLD_SIZE"])
        return cls(rank=int(env["RANK"]), size=size, local_rank=int(env.get("LOCAL_RANK", "0")),
                   local_size=int(env.get("LOCAL_WORLD_SIZE", str(size))), launched=True)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether a process group is up, so that collectives mean something."""
        if not self.launched:
            return False
        import torch.distributed as dist

        return dist.is_available() and dist.is_initialized()

    # ------------------------------------------------------------------------------------ devices
    def device(self, requested: str) -> str:
        """The device this rank uses for ``requested``: ``auto`` or a bare ``cuda`` becomes ``cuda:LOCAL_RANK``
        when launched on a CUDA machine, so that the ranks of a node share out its GPUs; anything explicit
        (``cpu``, ``cuda:1``) is kept."""
        if not self.launched or requested not in ("auto", "cuda"):
            return requested
        import torch

        if not torch.cuda.is_available():
            return requested
        if self.local_rank >= torch.cuda.device_count():
            raise DistributedError(f"rank {self.rank} is local rank {self.local_rank} but this machine has "
                                   f"{torch.cuda.device_count()} GPU(s): start at most that many per node")
        torch.cuda.set_device(self.local_rank)
        return f"cuda:{self.local_rank}"

    def cpu_threads(self) -> int:
        """This rank's share of the machine's cores: the cores this process may use split between the ranks
        of its node, so that two ranks on one machine do not fight over the same cores."""
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        return max(1, cores // max(1, self.local_size))

    # -------------------------------------------------------------------------------- collectives
    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def all_gather(self, value: T) -> list[T]:
        """Every rank's ``value``, in rank order, on every rank (picklable objects)."""
        if not self.active:
            return [value]
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.size
        dist.all_gather_object(gathered, value)
        return gathered

    def gather(self, value: T) -> list[T] | None:
        """Every rank's ``value``, in rank order, on rank 0; None on the other ranks."""
        if not self.active:
            return [value]
        import torch.distributed as dist

        gathered: list[Any] | None = [None] * self.size if self.is_main else None
        dist.gather_object(value, gathered, dst=0)
        return gathered

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (what the other ranks pass is ignored)."""
        if not self.active:
            return value
        import torch.distributed as dist

        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def check_same_arguments(self, arguments: Sequence[str]) -> None:
        """Refuse to start when the ranks were given different command lines (a node started with another
        ``-o``, say): raised on every rank, before any work, naming the first difference."""
        gathered = self.all_gather(list(arguments))
        for rank, other in enumerate(gathered):
            if other != gathered[0]:
                raise DistributedError(
                    f"the ranks were started with different arguments: rank 0 got {_quote(gathered[0])}, "
                    f"rank {rank} got {_quote(other)}; start every node with the same command line")

    def agree(self, problem: str | None) -> None:
        """Each rank says what went wrong on it (None: nothing); when any rank has a problem, every rank raises
        it, so that no rank waits forever for one that gave up."""
        problems = [(rank, text) for rank, text in enumerate(self.all_gather(problem)) if text is not None]
        if problems:
            rank, text = problems[0]
            raise DistributedError(text if self.size == 1 else f"rank {rank}: {text}")


def _quote(arguments: list[str]) -> str:
    import shlex

    return shlex.join(arguments)


def world() -> World:
    """This process's :class:`World`, read from the environment."""
    return World.from_env()


@contextlib.contextmanager
def session(arguments: Sequence[str], timeout: datetime.timedelta | None = None) -> Iterator[World]:
    """Within the block, this process is one rank of its launch: the process group is up (when launched), the
    ranks have been checked to run the same ``arguments``, and CPU threads are split between local ranks.

    ``timeout``: how long a rank waits in a collective for the others (torch's default when None); a batch
    whose ranks finish their shares at different times needs more than a training step does.
    """
    current = world()
    if not current.launched:
        yield current
        return
    import torch
    import torch.distributed as dist

    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    options: dict[str, Any] = {"backend": backend}
    if timeout is not None:
        options["timeout"] = timeout
    dist.init_process_group(**options)
    try:
        torch.set_num_threads(current.cpu_threads())
        current.check_same_arguments(arguments)
        yield current
        current.barrier()  # the ranks leave together: torchrun stops the others when one exits early
    finally:
        dist.destroy_process_group()


def balanced_shares(weights: Sequence[float], size: int) -> list[list[int]]:
    """Item indices per rank so that each rank's summed weight is about equal; the same on every rank.

    The heaviest items are placed first, each on the rank with the least weight so far (ties: the lower
    rank, then the lower index), which keeps any rank within one item of the mean. Each share is returned
    in input order.
    """
    import heapq

    loads = [(0.0, rank) for rank in range(size)]  # a heap: the least loaded rank first, then the lower
    shares: list[list[int]] = [[] for _ in range(size)]
    for index in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        load, rank = heapq.heappop(loads)
        shares[rank].append(index)
        heapq.heappush(loads, (load + weights[index], rank))
    return [sorted(share) for share in shares]


def pixel_weight(path: str | os.PathLike) -> int:
    """Width x height from an image file's header (nothing decoded), at least 1: an item's weight when sharing
    out work. A file whose header cannot be read, or declares a decompression bomb, weighs 1: its own rank
    refuses it at once and reports why."""
    from restore.io import header_size

    try:
        size = header_size(path)
    except DataError:  # refused from its header: no work to share out
        return 1
    return 1 if size is None else max(1, size[0] * size[1])
