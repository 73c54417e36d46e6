"""Upscale many files: plan outputs, decode and encode in worker threads, never lose or clobber work.

The model runs on the calling thread; a small thread pool decodes the next images while it works
and encodes finished ones behind it (Pillow, OpenCV and zlib release the GIL), so disk and codecs
overlap the network. Each input becomes one :class:`ItemResult`: a bad file costs one line in the
summary, never the batch. Outputs are written atomically; an output that already exists is
skipped unless ``overwrite``, so rerunning an interrupted batch resumes it; an output that would
land on an input, outside the output folder (``..`` in a glob, a symlink) or under a name the file system
cannot hold is refused for that item alone. Folders and globs never pick up files inside the output folder,
so a rerun into ``in/out`` does not upscale its own results. The ``--log-file`` is best-effort: a log that
cannot be written is dropped with one warning, never the images.

Under ``torchrun`` (a launched :class:`restore.distributed.World`) rank 0 plans and hands every rank the same
plan; the items still to run are shared out balanced by pixels (read from the headers), each output written
by the one rank that owns it; rank 0 gathers every result into the summary. The log is journalled per rank
(``FILE.rank<R>``, so a rank that dies keeps its lines) and merged by rank 0 into ``FILE`` in input order.
"""
from __future__ import annotations

import collections
import contextlib
import functools
import glob
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from restore.distributed import World, balanced_shares, pixel_weight
from restore.errors import DataError, RestoreError
from restore.io.atomic import remove_stale_temp_files
from restore.io.picture import DEFAULT_MAX_PIXELS, Picture, format_for_path, load, save
from restore.io.suffixes import FORMATS, IMAGE_SUFFIXES, OUTPUT_SUFFIX

__all__ = ["BatchSummary", "ItemResult", "plan_batch", "upscale_paths"]

_GLOB_MAGIC = ("*", "?", "[")


class ArrayUpscaler(Protocol):
    """What the batch needs from :class:`restore.engine.Upscaler`.

    ``progress`` is the upscaler's tile callback, ``progress(done, total)``. While it is None (nobody listens),
    the batch points it at its tile bar for the batch's duration and sets it back after. An upscaler without
    the attribute simply gets no tile bar.
    """

    progress: Callable[[int, int], None] | None

    def upscale_array(self, pixels: np.ndarray) -> np.ndarray: ...


@dataclass
class ItemResult:
    """One input's fate: ``status`` is ``ok``, ``skipped`` or ``failed`` (with a one-line ``reason``)."""

    input: Path
    output: Path | None
    status: str
    seconds: float = 0.0
    reason: str | None = None
    rank: int | None = None  # the rank that settled it, under torchrun


    def describe_failure(self) -> str:
        """``input: reason``, without naming the input twice (DataError messages start with it)."""
        reason = self.reason or "unknown error"
        return reason if reason.startswith(str(self.input)) else f"{self.input}: {reason}"

    def as_json(self) -> str:
        record = {
            "input": str(self.input),
            "output": None if self.output is None else str(self.output),
            "seconds": round(self.seconds, 4),
            "status": self.status,
            "reason": self.reason,
        }
        if self.rank is not None:
            record["rank"] = self.rank
        return json.dumps(record, ensure_ascii=False)


@dataclass
class BatchSummary:
    """Every item's result, in input order."""

    results: list[ItemResult] = field(default_factory=list)

    def _count(self, status: str) -> int:
        return sum(result.status == status for result in self.results)

    @property
    def done(self) -> int:
        return self._count("ok")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def failures(self) -> list[ItemResult]:
        return [result for result in self.results if result.status == "failed"]

    def report(self) -> str:
        """A human summary: counts, then one line per failure."""
        lines = [f"{self.done} upscaled, {self.skipped} skipped (output exists; --overwrite redoes), {self.failed} failed"]
        lines += [f"  FAILED {result.describe_failure()}" for result in self.failures]
        return "\n".join(lines)


@dataclass
class _Planned:
    input: Path
    output: Path | None
    problem: str | None = None


def _static_root(pattern: str) -> Path:
    """The folder part of a glob pattern before its first wildcard (where structure starts)."""
    parts = Path(pattern).parts
    static = []
    for part in parts:
        if any(magic in part for magic in _GLOB_MAGIC):
            break
        static.append(part)
    return Path(*static) if static else Path(".")


def _is_candidate(path: Path) -> bool:
    """Whether a folder scan takes ``path``: an image suffix, not hidden. A file named explicitly is tried whatever
    its suffix."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES


def _real(path: str | os.PathLike) -> str:
    """The path with symlinks and ``..`` resolved, for deciding where files really are."""
    return os.path.normcase(os.path.realpath(path))


def _inside(path: str | os.PathLike, folder_real: str) -> bool:
    real = _real(path)
    return real == folder_real or real.startswith(folder_real.rstrip(os.sep) + os.sep)


def _expand(spec: str | os.PathLike, outdir_real: str) -> list[tuple[Path, Path]] | str:
    """One input spec -> [(file, root its output path is relative to)], or the reason it matched nothing.

    Folders and globs leave out files inside the output folder (earlier results are not inputs); a
    file named explicitly is taken as given.
    """
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if _is_candidate(p) and not _inside(p, outdir_real))
        return [(p, path) for p in files] or f"folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
    if path.exists() or path.is_symlink():
        return [(path, path.parent)]
    text = str(spec)
    if any(magic in text for magic in _GLOB_MAGIC):
        root = _static_root(text)
        files = sorted(Path(p) for p in glob.glob(text, recursive=True)
                       if Path(p).is_file() and not _inside(p, outdir_real))
        return [(p, root) for p in files] or "pattern matched no files"
    return "no such file or folder"


def _relative_output(file: Path, root: Path) -> Path:
    """Where below the output folder ``file``'s result goes: its place below ``root``, or just its name.

    Both are made absolute and normalised first, so a ``..`` in a glob cannot climb out of the root.
    """
    file_abs, root_abs = Path(os.path.normpath(os.path.abspath(file))), Path(os.path.normpath(os.path.abspath(root)))
    return file_abs.relative_to(root_abs) if file_abs.is_relative_to(root_abs) else Path(file.name)


def _name_max(folder: Path) -> int:
    """The longest file name (in bytes) the file system of ``folder`` (or its nearest existing parent) holds."""
    for candidate in (folder, *folder.parents):
        try:
            return os.pathconf(candidate, "PC_NAME_MAX")
        except (OSError, ValueError, AttributeError):
            continue
    return 255


def _same_file(a: Path, b: Path) -> bool:
    return _real(a) == _real(b)


def plan_batch(
    inputs: Iterable[str | os.PathLike],
    outdir: str | os.PathLike,
    *,
    format: str | None = None,
    suffix: str = "",
) -> list[_Planned]:
    """Map every input file to its output path, keeping the folder structure below each input root.

    Items whose output would overwrite an input, collide with another item's output, land outside
    ``outdir`` once symlinks and ``..`` are resolved, or have a name too long for the file system,
    carry a ``problem`` instead of being run.
    """
    outdir = Path(outdir)
    outdir_real = _real(outdir)
    name_max = _name_max(outdir)
    fixed_format = format_for_path("x.png", format) if format is not None else None
    planned: list[_Planned] = []
    for spec in inputs:
        expanded = _expand(spec, outdir_real)
        if isinstance(expanded, str):
            planned.append(_Planned(Path(spec), None, expanded))
            continue
        for file, root in expanded:
            relative = _relative_output(file, root)
            source_suffix = file.suffix.lower()
            if fixed_format is not None:
                out_suffix = OUTPUT_SUFFIX[fixed_format]
            else:
                out_suffix = source_suffix if source_suffix in FORMATS else ".png"
            output = outdir / relative.parent / f"{relative.stem}{suffix}{out_suffix}"
            planned.append(_Planned(file, output))
    input_files = [item.input for item in planned if item.output is not None]
    claimed: dict[str, Path] = {}
    for item in planned:
        if item.output is None:
            continue
        name_bytes = len(os.fsencode(item.output.name))
        if name_bytes > name_max:
            item.problem = (f"output name {item.output.name[:40]}... is {name_bytes} bytes, longer than the "
                            f"{name_max} the file system allows; rename the input or shorten --suffix")
            continue
        if not _inside(item.output, outdir_real):
            item.problem = f"output {item.output} would land outside the output folder {outdir}; refusing to write it"
            continue
        if any(_same_file(item.output, source) for source in input_files):
            item.problem = f"output {item.output} is an input file; refusing to overwrite it (use another -o or --suffix)"
            continue
        key = os.path.normcase(os.path.realpath(item.output))
        if key in claimed:
            item.problem = f"output {item.output} is also the output of {claimed[key]}; rename one of them"
            continue
        claimed[key] = item.input
    return planned


def _check_outdir(outdir: Path) -> None:
    """Create the output folder and prove it writable before any model work is spent."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise DataError(f"output folder {outdir}: a file is in the way ({exc.strerror or exc})") from exc
    except OSError as exc:
        raise DataError(f"output folder {outdir}: cannot create it ({exc.strerror or exc})") from exc
    if not os.access(outdir, os.W_OK | os.X_OK):
        raise DataError(f"output folder {outdir}: not writable")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RestoreError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _timed(work: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = work()
    return value, time.perf_counter() - start


def _write(picture: Picture, output: Path, *, format: str | None, quality: int | None) -> float:
    """Save ``picture`` at ``output`` (its folder made first); the seconds it took."""
    output.parent.mkdir(parents=True, exist_ok=True)
    return _timed(lambda: save(output, picture, format=format, quality=quality))[1]


class _BestEffortLog:
    """The ``--log-file``: one JSON line per item, written while it can be. A write that fails (a full
    disk, a vanished mount) drops the log with one warning; the images, which matter, go on."""

    def __init__(self, path: str | os.PathLike, stream: Any, warn: Callable[[str], None]) -> None:
        self.path, self.stream, self.warn = path, stream, warn

    @classmethod
    def open(cls, path: str | os.PathLike | None, warn: Callable[[str], None]) -> _BestEffortLog | None:
        if path is None:
            return None
        try:
            return cls(path, open(path, "a", encoding="utf-8"), warn)
        except OSError as exc:
            raise DataError(f"--log-file {path}: cannot open for writing ({exc.strerror or exc})") from exc

    def write_line(self, line: str) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except OSError as exc:
            self.warn(f"warning: --log-file {self.path}: cannot write ({exc.strerror or exc}); the log stops here, "
                      "the images go on")
            self.close()

    def close(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass  # the buffered lines are lost with the log; the warning said so


class _InlinePool:
    """ThreadPoolExecutor's submit() without threads, for ``workers=0`` (debugging, determinism)."""

    def submit(self, fn, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # delivered through the future like a pool; Ctrl-C is not deferred
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        return None


def _settle_before_running(
    plan: list[_Planned], overwrite: bool, indices: Iterable[int]
) -> tuple[dict[int, ItemResult], list[int]]:
    """Results known before any model work (planning problems, existing outputs), and the items left to run,
    among the plan's ``indices``."""
    settled: dict[int, ItemResult] = {}
    runnable: list[int] = []
    for index in indices:
        item = plan[index]
        if item.problem is not None:
            settled[index] = ItemResult(item.input, item.output, "failed", reason=item.problem)
            continue
        try:
            exists = item.output.exists()
        except OSError as exc:  # a path the file system cannot even look up fails this item alone
            settled[index] = ItemResult(item.input, item.output, "failed", reason=_reason(exc))
            continue
        if exists and not overwrite:
            settled[index] = ItemResult(item.input, item.output, "skipped", reason="output exists")
        else:
            runnable.append(index)
    return settled, runnable


def _remove_stale_temp_files(plan: list[_Planned]) -> None:
    """Leftovers of an earlier run killed mid-write (SIGKILL, power loss) go before this one starts."""
    for folder in sorted({item.output.parent for item in plan if item.output is not None and item.problem is None}):
        remove_stale_temp_files(folder)


class _Report:
    """Where finished items go: the results by input index, a ``--log-file`` line and the progress bar (failures
    are listed once, in the summary's report). ``rank`` (under torchrun) is stamped on every result."""

    def __init__(self, total: int, log: _BestEffortLog | None, show: bool, rank: int | None = None) -> None:
        from tqdm import tqdm

        self.total, self.log, self.show, self.rank = total, log, show, rank
        self.results: dict[int, ItemResult] = {}
        self.bar = tqdm(total=total, unit="img", disable=not show, dynamic_ncols=True)

    def finish(self, index: int, result: ItemResult) -> None:
        result.rank = self.rank
        self.results[index] = result
        if self.log is not None:
            self.log.write_line(result.as_json())
        self.bar.update(1)

    def summary(self) -> BatchSummary:
        return BatchSummary([self.results[index] for index in sorted(self.results)])

    def close(self) -> None:
        self.bar.close()
        if self.log is not None:
            self.log.close()


class _TileBar:
    """A second progress bar, shown only while one image takes more than one tile; a ``progress(done, total)``."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if total <= 1:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="tile", leave=False, position=1, dynamic_ncols=True)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        bar, self.bar = self.bar, None
        if bar is not None:
            bar.close()


@contextlib.contextmanager
def _tile_bar_on(upscaler: ArrayUpscaler, enabled: bool) -> Iterator[None]:
    """Point the upscaler's ``progress`` at a tile bar while the batch runs, when nobody else listens to it."""
    borrowed = enabled and getattr(upscaler, "progress", False) is None
    tiles = _TileBar()
    if borrowed:
        upscaler.progress = tiles
    try:
        yield
    finally:
        if borrowed:
            upscaler.progress = None
        tiles.close()


class _Pipeline:
    """Decodes run ahead on the pool, the network on the calling thread, encodes behind on the pool.

    At most ``max(1, workers)`` decoded images wait for the network and as many upscaled ones wait to be
    written, which bounds the memory held whatever the batch size. Each item ends in ``finish``.
    """

    def __init__(
        self,
        plan: list[_Planned],
        upscaler: ArrayUpscaler,
        workers: int,
        decode: Callable[[Path], Picture],
        encode: Callable[[Picture, Path], float],
        finish: Callable[[int, ItemResult], None],
    ) -> None:
        self.plan, self.upscaler, self.decode, self.encode, self.finish = plan, upscaler, decode, encode, finish
        self.depth = max(1, workers)
        self.pool = (ThreadPoolExecutor(max_workers=workers, thread_name_prefix="restore-io") if workers > 0
                     else _InlinePool())
        self.decodes: collections.deque[tuple[int, Future]] = collections.deque()
        self.encodes: collections.deque[tuple[int, float, Future]] = collections.deque()

    def run(self, runnable: Iterable[int]) -> None:
        pending = iter(runnable)
        try:
            self._decode_ahead(pending)
            while self.decodes:
                index, decoded = self.decodes.popleft()
                self._decode_ahead(pending)
                self._upscale(index, decoded)
                while len(self.encodes) > self.depth:
                    self._collect(self.encodes.popleft())
            while self.encodes:
                self._collect(self.encodes.popleft())
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _decode_ahead(self, pending: Iterator[int]) -> None:
        while len(self.decodes) < self.depth:
            index = next(pending, None)
            if index is None:
                return
            decoded = self.pool.submit(_timed, functools.partial(self.decode, self.plan[index].input))
            self.decodes.append((index, decoded))

    def _upscale(self, index: int, decoded: Future) -> None:
        item = self.plan[index]
        try:
            picture, seconds = decoded.result()
            upscaled, model_seconds = _timed(lambda: self.upscaler.upscale_array(picture.pixels))
            output_picture = picture.with_pixels(upscaled)
        except Exception as exc:
            self.finish(index, ItemResult(item.input, item.output, "failed", reason=_reason(exc)))
            return
        written = self.pool.submit(self.encode, output_picture, item.output)
        self.encodes.append((index, seconds + model_seconds, written))

    def _collect(self, entry: tuple[int, float, Future]) -> None:
        index, seconds, written = entry
        item = self.plan[index]
        try:
            seconds += written.result()
            self.finish(index, ItemResult(item.input, item.output, "ok", seconds))
        except Exception as exc:
            self.finish(index, ItemResult(item.input, item.output, "failed", seconds, _reason(exc)))


def _own_share(world: World, plan: list[_Planned], runnable: list[int]) -> list[int]:
    """This rank's items to run, out of the ``runnable`` ones every rank found in its stride of the plan.

    Each rank reads the headers of its own runnable items; all weights are gathered, and every rank computes
    the same :func:`restore.distributed.balanced_shares` from them.
    """
    weighed = [(index, pixel_weight(plan[index].input)) for index in runnable]
    everything = sorted(pair for part in world.all_gather(weighed) for pair in part)
    shares = balanced_shares([weight for _, weight in everything], world.size)
    return [everything[position][0] for position in shares[world.rank]]


def _on_every_rank(world: World, step: Callable[[], Any]) -> Any:
    """Run ``step``; under torchrun, a RestoreError on any rank is raised on all of them (none waits alone)."""
    if not world.active:
        return step()
    try:
        value, problem = step(), None
    except RestoreError as exc:
        value, problem = None, str(exc)
    world.agree(problem)
    return value


def _journal_path(log_path: str | os.PathLike, rank: int) -> Path:
    return Path(f"{os.fspath(log_path)}.rank{rank}")


def _open_journal(world: World, log_path: str | os.PathLike | None,
                  warn: Callable[[str], None]) -> _BestEffortLog | None:
    """This rank's journal of the log; rank 0 also proves the log itself writable, before any work."""
    if log_path is None:
        return None
    if world.is_main:
        _BestEffortLog.open(log_path, warn).close()
    return _BestEffortLog.open(_journal_path(log_path, world.rank), warn)


def _merge_log(world: World, log_path: str | os.PathLike, summary: BatchSummary,
               warn: Callable[[str], None]) -> None:
    """Rank 0 appends every item's line, in input order, to the log, then drops the ranks' journals. A log that
    cannot be written keeps the journals and says so."""
    log = _BestEffortLog.open(log_path, warn)
    for result in summary.results:
        log.write_line(result.as_json())
    complete = log.stream is not None
    log.close()
    if complete:
        for rank in range(world.size):
            _journal_path(log_path, rank).unlink(missing_ok=True)
    else:
        warn(f"warning: the per-rank journals {log_path}.rank* are kept")


def upscale_paths(
    inputs: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    upscaler: ArrayUpscaler,
    *,
    format: str | None = None,
    quality: int | None = None,
    suffix: str = "",
    overwrite: bool = False,
    log_path: str | os.PathLike | None = None,
    progress: bool = True,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    workers: int = 2,
    world: World | None = None,
) -> BatchSummary:
    """Upscale files, folders (recursively, structure kept) and glob patterns into ``outdir``.

    ``format``: png / jpg / webp / tiff for every output (default: the input's, PNG for others).
    ``quality``: see :func:`restore.io.picture.save`. ``suffix`` goes before the extension.
    ``log_path``: one JSON line per item (input, output, seconds, status, reason; ``rank`` under torchrun).
    ``workers``: decode/encode threads (0: everything on the calling thread).
    ``world``: this rank under torchrun (default: one process). Every rank must call this with the same
    arguments; rank 0's summary holds every item, another rank's only its own share.
    Raises DataError only when the output folder itself cannot be created or written.
    """
    world = world or World()
    outdir = Path(outdir)
    warn = functools.partial(print, file=sys.stderr)
    if format is not None:
        format_for_path("x.png", format)  # an unknown format is an up-front error, not N failures
    # Rank 0 lists the inputs: every rank then works from one plan, even while files come and go.
    plan = world.broadcast(plan_batch(inputs, outdir, format=format, suffix=suffix) if world.is_main else None)
    _on_every_rank(world, lambda: _check_outdir(outdir))
    if world.is_main:
        _remove_stale_temp_files(plan)
    world.barrier()  # no rank writes before an earlier run's leftovers are gone
    settled, runnable = _settle_before_running(plan, overwrite, range(world.rank, len(plan), world.size))
    if world.launched:
        runnable = _own_share(world, plan, runnable)
        log = _on_every_rank(world, lambda: _open_journal(world, log_path, warn))
    else:
        log = _BestEffortLog.open(log_path, warn)
    show = progress and world.is_main
    report = _Report(len(settled) + len(runnable), log, show=show, rank=world.rank if world.launched else None)
    try:
        for index, result in settled.items():
            report.finish(index, result)
        with _tile_bar_on(upscaler, enabled=show):
            decode = functools.partial(load, max_pixels=max_pixels)
            encode = functools.partial(_write, format=format, quality=quality)
            _Pipeline(plan, upscaler, workers, decode, encode, report.finish).run(runnable)
    finally:
        report.close()
    if not world.launched:
        return report.summary()
    gathered = world.gather(report.results)
    if not world.is_main:
        return report.summary()
    merged = {index: result for part in gathered for index, result in part.items()}
    summary = BatchSummary([merged[index] for index in sorted(merged)])
    if log_path is not None:
        _merge_log(world, log_path, summary, warn)
    return summary
