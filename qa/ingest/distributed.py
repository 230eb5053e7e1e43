"""Distributed ingest: files parsed and chunks embedded by a Ray Data pipeline, stored by ingest().

Ray does the costly, independent work: each file is parsed by a task (`flat_map` over `read_path`)
and each article's chunks are embedded by a pool of actors that load the model once each
(`map_batches`). Everything that depends on the index (unchanged articles, older versions,
syndicated copies, file marks, batches, the report) stays in `qa.ingest.pipeline.ingest()`, which
runs on the driver with a reader that hands over what Ray computed: each article already
embedded (`Prepared`: its chunks and their vectors). Both paths therefore build the same store
by construction, and an interrupted run resumes the same way.

The pipeline streams: the driver consumes rows in the files' order while Ray works ahead, and
Ray's backpressure bounds what waits in between, so memory does not grow with the archive.
An article's vectors live on the driver only from its row to the batch that stores it (or to
`ingest()` finding it unchanged, older or a copy). Rows are plain (JSON text, float32 bytes): no
newsqa object crosses Ray, and nothing stored is a pickle. Paths must be readable under the same
absolute path on every node (a shared filesystem); a file a worker saw differently from the
driver is read again on the driver.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import warnings
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.core.errors import NewsqaError
from qa.core.records import Article
from qa.core.stderr import quiet_stderr
from qa.ingest.chunking import ChunkParams, spanned
from qa.ingest.pipeline import (
    IngestReport,
    Prepared,
    Reader,
    embed_articles,
    file_mark,
    ingest,
)
from qa.ingest.readers import Rejected, Skipped, expand_paths, read_path
from qa.models.embedders import Embedder, Rebuildable, from_recipe
from qa.store.index import Index

RAY_HINT = "pip install 'newsqa[ray]'"
_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b.*:")


@dataclass
class RayIngestReport(IngestReport):
    workers: int = 0  # embedder actors (0: nothing needed reading, Ray was not started)
    misses: int = 0  # chunks the driver embedded itself: Ray's vector was not at hand
    local_reads: int = 0  # files the driver read itself: changed since, or unseen by, Ray


def ray_ingest(paths: Iterable[Path], index: Index, embedder: Rebuildable, *,
               address: str | None = None, workers: int | None = None, batch_size: int = 32,
               fields: Mapping[str, str] | None = None, rescan: bool = False,
               follow_links: bool = False,
               on_article: Callable[[str, int], None] | None = None) -> RayIngestReport:
    """`ingest()` with parsing and embedding done by Ray, on a local instance started for the
    run (`address=None`) or on the cluster at `address` (`auto`, `ray://HOST:10001`); Ray
    already initialised in this process is used as it is.

    `workers` embedder actors (default: one per CPU of the cluster) share the CPUs evenly.
    `embedder` tells the actors which model to load, and embeds on the driver whatever Ray's
    vectors do not cover (counted in `misses`). When every file is unchanged, Ray is not
    started at all.
    """
    paths = list(paths)
    files = _files_to_read(paths, index, fields, rescan, follow_links)
    driver = _Counting(embedder)

    def run(read: Reader) -> IngestReport:
        return ingest(paths, index, driver, batch_size=batch_size, fields=fields, rescan=rescan,
                      follow_links=follow_links, on_article=on_article, read=read)

    if not files:
        return _ray_report(run(read_path), 0, driver.embedded, 0)
    local_cpus = max(os.cpu_count() or 1, workers or 1)
    with ray_session(address, local_cpus) as ray, _data_settings(ray):
        actors, cpus = _share_cpus(ray, workers)
        dataset = _pipeline(ray, files, index.chunking, embedder, actors, cpus, batch_size,
                            fields)
        rows = iter(dataset.iter_rows())  # a generator: closing it stops Ray's work
        feed = _Feed(rows, files, embedder.dim)
        try:
            report = run(feed.read)
        except ray.exceptions.RayError as exc:
            raise NewsqaError(f"the Ray pipeline failed: {_worker_error(exc)}", hint=(
                "rerun to carry on from the last batch stored; Ray's logs are under "
                "/tmp/ray/session_latest/logs on each node")) from exc
        finally:
            rows.close()  # rows of files ingest() did not open, or after an error
    return _ray_report(report, actors, driver.embedded, feed.local_reads)


def _ray_report(report: IngestReport, workers: int, misses: int, local_reads: int
                ) -> RayIngestReport:
    values = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
    return RayIngestReport(**values, workers=workers, misses=misses, local_reads=local_reads)


class _Counting:
    """The embedder, counting the chunks the driver embeds itself (those of files read on
    the driver, for which Ray's vectors are not at hand): the report's `misses`."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.name, self.dim = embedder.name, embedder.dim
        self.embedded = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += len(texts)
        return self.embedder.embed(texts)


def _worker_error(exc: BaseException) -> str:
    """The error a worker raised, from the text Ray hands back (the innermost traceback's
    closing `Type: message` lines), not Ray's own wrapping of it."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    lines = [line for line in text.split("The above exception was")[0].splitlines()
             if line.strip()]
    for at in range(len(lines) - 1, -1, -1):
        if _ERROR_LINE.match(lines[at]):
            return " ".join(line.strip() for line in lines[at:])
    return lines[-1].strip() if lines else type(exc).__name__


def _files_to_read(paths: Sequence[Path], index: Index, fields: Mapping[str, str] | None,
                   rescan: bool, follow_links: bool) -> list[Path]:
    """The files `ingest()` will open, in its order: the ones Ray should parse."""
    return [entry for entry in expand_paths(paths, follow_links) if isinstance(entry, Path)
            and (rescan or not index.file_done(file_mark(entry, fields)))]


# --- Ray: connecting, and the pipeline --------------------------------------------------------


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise NewsqaError("Ray is not installed (needed for a distributed ingest)",
                          hint=RAY_HINT) from exc
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, cpus: int | None = None) -> Iterator[Any]:
    """The `ray` module, connected: to the instance this process already has (left running),
    else to the cluster at `address` (this process disconnects after; the cluster stays),
    else to a local instance of `cpus` CPUs started here and stopped after."""
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    # An offline tool reports nothing home; and no dashboard, no worker output on the terminal.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        options.update(num_cpus=cpus, include_dashboard=False)
    try:
        with _backend_logs_quiet():
            ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        ray.shutdown()  # a failed start leaves state behind that the next one trips over
        if address is None:
            raise NewsqaError(f"cannot start a local Ray instance: {exc}", hint=(
                "see Ray's logs under /tmp/ray/session_latest/logs")) from None
        raise NewsqaError(f"cannot reach the Ray cluster at {address}: {exc}", hint=(
            "give the head's address as ray://HOST:10001, or `auto` on a node of the cluster")
                          ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _backend_logs_quiet() -> Iterator[None]:
    """Ray's C++ core in this process logs to stderr: errors it expects to be harmless (Ray
    Data's restartable actors get one every run) and, when told its level, that it was told.
    Its level is set while it starts, and what it says meanwhile goes to /dev/null."""
    saved_env = os.environ.get("RAY_BACKEND_LOG_LEVEL")
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        with quiet_stderr():
            yield
    finally:
        if saved_env is None:
            os.environ.pop("RAY_BACKEND_LOG_LEVEL", None)


# Ray Data's settings for the run. A block is what one actor call gets: blocks of a few dozen
# articles (not Ray's 128 MB) share one big file out among the actors.
_DATA_SETTINGS = {"enable_progress_bars": False, "print_on_execution_start": False,
                  "enable_auto_log_stats": False, "target_max_block_size": 256 * 1024}


@contextlib.contextmanager
def _data_settings(ray: Any) -> Iterator[None]:
    """Ray Data in file order, in small blocks, and quiet: no progress bars, log lines or
    warnings about its tuning (ours show progress, and a failure comes back as an
    exception); the process's settings as they were afterwards."""
    context = ray.data.DataContext.get_current()
    logger = logging.getLogger("ray.data")
    saved = {name: getattr(context, name) for name in _DATA_SETTINGS}
    saved_order, saved_level = context.execution_options.preserve_order, logger.level
    for name, value in _DATA_SETTINGS.items():
        setattr(context, name, value)
    context.execution_options.preserve_order = True
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"ray\.")
            yield
    finally:
        for name, value in saved.items():
            setattr(context, name, value)
        context.execution_options.preserve_order = saved_order
        logger.setLevel(saved_level)


def _share_cpus(ray: Any, workers: int | None) -> tuple[int, int]:
    """(actors, CPUs each): `workers` actors (default one per CPU), each given the most whole
    CPUs that still lets all of them be placed on the cluster's nodes. Torch in an actor uses
    as many threads as it has CPUs (Ray sets OMP_NUM_THREADS)."""
    nodes = [float(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    total = int(sum(nodes))
    actors = workers or total
    if not 1 <= actors <= total:
        raise NewsqaError(f"{actors} workers asked for, but the Ray cluster has {total} CPUs",
                          hint=f"give at most {total} workers")
    for share in range(int(max(nodes)), 1, -1):
        if sum(int(cpus // share) for cpus in nodes) >= actors:
            return actors, share
    return actors, 1


def _pipeline(ray: Any, files: Sequence[Path], chunking: ChunkParams,
              embedder: Rebuildable, actors: int, cpus: int, batch_size: int,
              fields: Mapping[str, str] | None) -> Any:
    """files -> parsed rows (tasks) -> rows with their chunks' spans and vectors (actors)."""
    items = [{"file": k, "path": str(path.absolute())} for k, path in enumerate(files)]
    blocks = min(len(items), 4 * actors)
    # Parsing is light beside embedding: its tasks take no CPU of their own, so the actors,
    # which hold every CPU, cannot starve them.
    return ray.data.from_items(items, override_num_blocks=blocks).flat_map(
        _parse_file, fn_kwargs={"fields": dict(fields) if fields else None}, num_cpus=0,
        compute=ray.data.TaskPoolStrategy(size=min(actors, blocks)),
    ).map_batches(
        _EmbedWorker, batch_size=batch_size, batch_format="numpy", num_cpus=cpus,
        compute=ray.data.ActorPoolStrategy(size=actors),
        fn_constructor_kwargs={"recipe": _actor_recipe(embedder, cpus),
                               "chunking": chunking.as_dict()},
    )


def _actor_recipe(embedder: Rebuildable, cpus: int) -> dict[str, Any]:
    """The embedder for an actor: an ONNX one runs as many threads as the actor has CPUs."""
    recipe = embedder.recipe()
    return {**recipe, "threads": max(1, int(cpus))} if recipe["kind"] == "onnx" else recipe


# --- on the workers -----------------------------------------------------------------------


def _row(file: int, pos: int, kind: str, data: str) -> dict[str, Any]:
    return {"file": file, "pos": pos, "kind": kind, "data": data}


def _stat(path: Path) -> str:
    """What tells whether the driver and a worker saw the same file."""
    try:
        stat = path.stat()
    except OSError as exc:
        return json.dumps({"error": exc.strerror})
    return json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns})


def _parse_file(item: dict[str, Any], fields: dict[str, str] | None
                ) -> Iterator[dict[str, Any]]:
    """A file's rows: its stat as it is read (before), then what `read_path` yields, in order."""
    path, file = Path(item["path"]), int(item["file"])
    yield _row(file, 0, "file", _stat(path))
    for pos, read in enumerate(read_path(path, fields), 1):
        if isinstance(read, Article):
            yield _row(file, pos, "article", json.dumps(_article_json(read), ensure_ascii=False))
        elif isinstance(read, Rejected):
            yield _row(file, pos, "rejected", json.dumps([read.path, read.line, read.reason]))
        else:
            yield _row(file, pos, "skipped", json.dumps([read.path, read.reason]))


def _article_json(article: Article) -> dict[str, Any]:
    # `extra` as the store writes it (json with default=str), so it stores the same again.
    extra = json.loads(json.dumps(article.extra, ensure_ascii=False, default=str))
    return {"id": article.id, "text": article.text, "url": article.url, "title": article.title,
            "published": article.published, "source": article.source,
            "authors": list(article.authors), "extra": extra}


def _article(data: str) -> Article:
    value = json.loads(data)
    return Article(id=value["id"], text=value["text"], url=value["url"], title=value["title"],
                   published=value["published"], source=value["source"],
                   authors=tuple(value["authors"]), extra=value["extra"])


class _EmbedWorker:
    """A Ray actor: loads the embedder once, then gives each article row its chunks, as
    (start, end) spans, and their vectors, as float32 bytes: what `ingest()` would have made."""

    def __init__(self, recipe: dict[str, Any], chunking: dict[str, int]) -> None:
        from qa.models.catalog import EMBEDDER_NAME, embedder_folder

        if not Path(recipe["folder"]).is_dir() and recipe["name"] == EMBEDDER_NAME:
            recipe = {**recipe, "folder": str(embedder_folder())}  # installed elsewhere here
        self.embedder = from_recipe(recipe)
        self.chunking = ChunkParams(**chunking)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        articles = {k: _article(str(data)) for k, (kind, data)
                    in enumerate(zip(batch["kind"], batch["data"], strict=True))
                    if kind == "article"}
        embedded = dict(zip(articles, embed_articles(list(articles.values()), self.chunking,
                                                     self.embedder), strict=True))
        spans, blobs = [], []
        for k in range(len(batch["kind"])):
            chunks, vectors = embedded.get(k, ([], np.zeros((0, self.embedder.dim))))
            spans.append(json.dumps([[c.start, c.end] for c in chunks]))
            blobs.append(np.asarray(vectors, dtype="<f4").tobytes())
        return {**batch, "chunks": np.array(spans, dtype=object),
                "vectors": np.array(blobs, dtype=object)}


# --- on the driver ------------------------------------------------------------------------


class _Feed:
    """The rows Ray produced, handed to `ingest()` file by file in the order it reads files
    (Ray keeps the files' order). A file `ingest()` did not open leaves its rows unread; one
    Ray did not parse, or that changed since a worker read it, is read here."""

    def __init__(self, rows: Iterator[dict[str, Any]], files: Sequence[Path], dim: int) -> None:
        self.rows = rows
        self.ahead: dict[str, Any] | None = None
        self.last = (-1, -1)
        self.positions: dict[str, deque[int]] = defaultdict(deque)
        for k, path in enumerate(files):
            self.positions[str(path)].append(k)
        self.dim = dim
        self.local_reads = 0

    def read(self, path: Path, fields: Mapping[str, str] | None
             ) -> Iterator[Article | Prepared | Rejected | Skipped]:
        queue = self.positions.get(str(path))
        file = queue.popleft() if queue else None
        if file is None or self._header(file) != _stat(path):
            self.local_reads += 1  # its articles are embedded on the driver
            yield from read_path(path, fields)
            return
        shown, absolute = str(path), str(path.absolute())
        while (row := self._take(file)) is not None:
            kind, data = row["kind"], row["data"]
            if kind == "article":
                yield self._prepared(_article(data), row)
            elif kind == "rejected":  # workers read the absolute path; show the one given
                where, line, reason = json.loads(data)
                yield Rejected(where.replace(absolute, shown), line,
                               reason.replace(absolute, shown))
            else:
                where, reason = json.loads(data)
                yield Skipped(where.replace(absolute, shown), reason.replace(absolute, shown))

    def _prepared(self, article: Article, row: dict[str, Any]) -> Prepared:
        spans = [(int(start), int(end)) for start, end in json.loads(row["chunks"])]
        vectors = np.frombuffer(row["vectors"], dtype="<f4").reshape(len(spans), self.dim)
        return Prepared(article, tuple(spanned(article, spans)), vectors.copy())

    def _pull(self) -> dict[str, Any] | None:
        if self.ahead is not None:
            ahead, self.ahead = self.ahead, None
            return ahead
        row = next(self.rows, None)
        if row is not None:
            at = (int(row["file"]), int(row["pos"]))
            if at <= self.last:
                raise RuntimeError(f"Ray delivered rows out of order: {at} after {self.last}")
            self.last = at
        return row

    def _header(self, file: int) -> str | None:
        """The stat row of `file`, past the rows of files `ingest()` did not open."""
        while (row := self._pull()) is not None:
            if int(row["file"]) > file:
                self.ahead = row
                return None
            if int(row["file"]) == file and row["kind"] == "file":
                return str(row["data"])
        return None

    def _take(self, file: int) -> dict[str, Any] | None:
        row = self._pull()
        if row is not None and (int(row["file"]) != file or row["kind"] == "file"):
            self.ahead, row = row, None
        return row

