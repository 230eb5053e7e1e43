"""A new index's precision is the one this CPU embeds faster, measured once and cached (issue 18);
`--precision` overrides it, and `index info` says why."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qa.app.cli import app
from qa.app.context import use_models
from qa.models import precision
from qa.models.precision import PrecisionChoice
from tests.fakes import FakeEmbedder, FakeModels

KEYS = {"int8": "a1", "fp32": "b2"}


def _clock(seconds_per_call: dict[str, float], order: list[str]) -> Callable[[], float]:
    """A clock on which each embed call of a precision takes the given seconds."""
    now = [0.0]

    def tick() -> float:
        return now[0]

    def advance(name: str) -> Callable[[list[str]], None]:
        def embed(texts: list[str]) -> None:
            order.append(name)
            if len(texts) > 2:  # the warm-up call is not timed
                now[0] += seconds_per_call[name]
        return embed

    tick.advance = advance  # type: ignore[attr-defined]
    return tick


def _measure(tmp_path: Path, int8_s: float, fp32_s: float) -> tuple[PrecisionChoice, list[str]]:
    order: list[str] = []
    clock = _clock({"int8": int8_s, "fp32": fp32_s}, order)
    embedders = {p: clock.advance(p) for p in ("int8", "fp32")}  # type: ignore[attr-defined]
    return precision.choose(tmp_path, KEYS, 2, embedders, clock=clock), order


def test_the_faster_precision_is_chosen_and_int8_must_win_clearly(tmp_path: Path) -> None:
    choice, order = _measure(tmp_path / "a", int8_s=1.0, fp32_s=3.0)
    assert choice.precision == "int8"
    assert choice.chunks_per_s == {"int8": 24.0, "fp32": 8.0}
    assert "int8 24" in choice.why and "fp32 8" in choice.why and "threads" in choice.why
    # Interleaved rounds after one warm-up each, so a slow spell falls on both.
    assert order == ["int8", "fp32"] + ["int8", "fp32"] * precision.ROUNDS

    assert _measure(tmp_path / "b", int8_s=1.0, fp32_s=1.1)[0].precision == "fp32"
    assert _measure(tmp_path / "c", int8_s=2.0, fp32_s=1.0)[0].precision == "fp32"


def test_the_choice_is_cached_per_cpu_and_exports(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = _measure(tmp_path, int8_s=1.0, fp32_s=3.0)

    def never(texts: list[str]) -> None:
        raise AssertionError("measured again")

    assert precision.choose(tmp_path, KEYS, 2, {"int8": never, "fp32": never}) == first
    assert precision.cached(tmp_path, KEYS, 2) == first
    assert precision.cached(tmp_path, {**KEYS, "int8": "new export"}, 2) is None
    assert precision.cached(tmp_path, KEYS, 4) is None  # another number of CPUs
    monkeypatch.setattr(precision, "instruction_sets", lambda: ["avx2", "avx512_vnni"])
    assert precision.cached(tmp_path, KEYS, 2) is None  # another CPU

    monkeypatch.undo()
    for cached in tmp_path.glob("precision-*.json"):
        cached.write_text("{not json")
    again, order = _measure(tmp_path, int8_s=3.0, fp32_s=1.0)
    assert order and again.precision == "fp32"  # a damaged cache is measured afresh


class _MeasuringFake(FakeEmbedder):
    """The fake embedder, with a measured precision as the ONNX one has."""

    measured: list[int] = []

    def choose_precision(self) -> PrecisionChoice:
        self.measured.append(1)
        return PrecisionChoice("fp32", {"int8": 9.0, "fp32": 20.0}, "measured on this CPU: fp32")


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_models: None) -> Iterator[Path]:
    use_models(FakeModels(_MeasuringFake))
    _MeasuringFake.measured.clear()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSQA_INDEX_DIR", raising=False)
    yield tmp_path


def _embedder(cli: Path, name: str) -> dict[str, Any]:
    return json.loads((cli / "indexes" / name / "manifest.json").read_text())["embedder"]  # type: ignore[no-any-return]


def test_a_new_index_takes_the_measured_precision_and_says_why(cli: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", "--sample"]).exit_code == 0
    assert _embedder(cli, "default") == {
        "name": _MeasuringFake().name, "dim": _MeasuringFake().dim, "precision": "fp32",
        "precision_why": "measured on this CPU: fp32"}
    assert _MeasuringFake.measured == [1]
    info = runner.invoke(app, ["index", "info"])
    assert "precision fp32: measured on this CPU: fp32" in info.output

    assert runner.invoke(app, ["ingest", "--sample"]).exit_code == 0  # an existing index
    assert _MeasuringFake.measured == [1]  # is not measured for again

    assert runner.invoke(app, ["ingest", "--sample", "--precision", "int8", "--index", "b"]
                         ).exit_code == 0
    assert _embedder(cli, "b")["precision"] == "int8"
    assert _embedder(cli, "b")["precision_why"] == "chosen with --precision"
    assert _MeasuringFake.measured == [1]
