"""Threads for llama.cpp from the CPUs free of other work (issue 18): the /proc/stat reading,
the thread setting, and a real model that changes its thread count between prompts and gives
the same answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.core.errors import NewsqaError
from qa.core.settings import resolve
from qa.models import cpus

# Two readings of /proc/stat, 100 ticks apart on each CPU: cpu0 worked 90 of them (idle 10),
# cpu1 worked 30 (idle 60, iowait 10), cpu2 worked all 100.
BEFORE = """cpu  900 0 300 5000 100 0 0 0 0 0
cpu0 300 0 100 1000 50 0 0 0 0 0
cpu1 300 0 100 2000 25 0 0 0 0 0
cpu2 300 0 100 2000 25 0 0 0 0 0
intr 12345
"""
AFTER = """cpu  1120 0 300 5070 110 0 0 0 0 0
cpu0 390 0 100 1010 50 0 0 0 0 0
cpu1 330 0 100 2060 35 0 0 0 0 0
cpu2 400 0 100 2000 25 0 0 0 0 0
intr 12399
"""


def test_busy_share_counts_only_the_cpus_asked_about() -> None:
    assert cpus.busy_share(BEFORE, AFTER, {0}) == pytest.approx(0.9)
    assert cpus.busy_share(BEFORE, AFTER, {1}) == pytest.approx(0.3)
    assert cpus.busy_share(BEFORE, AFTER, {0, 1}) == pytest.approx(0.6)
    assert cpus.busy_share(BEFORE, AFTER, {2}) == pytest.approx(1.0)
    assert cpus.busy_share(BEFORE, BEFORE, {0, 1}) is None  # no time passed


class _Readings:
    def __init__(self, *texts: str) -> None:
        self.texts: Iterator[str] = iter(texts)

    def read_text(self) -> str:
        return next(self.texts)


@pytest.mark.parametrize(("allowed", "free"), [({0, 1}, 1), ({1}, 1), ({0}, 1), ({2}, 1),
                                                ({0, 1, 2}, 1)])
def test_free_cpus_is_the_idle_share_of_this_process_cpus_and_at_least_one(
        monkeypatch: pytest.MonkeyPatch, allowed: set[int], free: int) -> None:
    monkeypatch.setattr(cpus, "STAT", _Readings(BEFORE, AFTER))
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: allowed)
    assert cpus.free_cpus(window=0) == free


def test_quiet_cpus_are_all_free(monkeypatch: pytest.MonkeyPatch) -> None:
    quiet = AFTER.replace("cpu0 390 0 100 1010", "cpu0 300 0 100 1100").replace(
        "cpu1 330 0 100 2060 35", "cpu1 300 0 100 2095 25")
    monkeypatch.setattr(cpus, "STAT", _Readings(BEFORE, quiet))
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: {0, 1})
    assert cpus.free_cpus(window=0) == 2


def test_a_stray_tick_does_not_take_a_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # 5 ticks on each CPU, one of cpu0's spent by a kernel thread: 0.2 of a CPU, not one.
    before = "cpu0 100 0 0 1000 0 0 0 0\ncpu1 100 0 0 1000 0 0 0 0\n"
    after = "cpu0 101 0 0 1004 0 0 0 0\ncpu1 100 0 0 1005 0 0 0 0\n"
    monkeypatch.setattr(cpus, "STAT", _Readings(before, after))
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: {0, 1})
    assert cpus.free_cpus(window=0) == 2


def test_without_proc_stat_the_load_average_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    class Missing:
        def read_text(self) -> str:
            raise FileNotFoundError("/proc/stat")

    monkeypatch.setattr(cpus, "STAT", Missing())
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(cpus.os, "getloadavg", lambda: (1.2, 1.0, 1.0))
    assert cpus.free_cpus(window=0) == 3
    monkeypatch.setattr(cpus.os, "getloadavg", lambda: (9.0, 1.0, 1.0))
    assert cpus.free_cpus(window=0) == 1


def test_the_thread_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSQA_LLM_THREADS", raising=False)
    assert resolve(generator=True).llm.threads is None
    for value, threads in (("auto", None), ("3", 3), (" 1 ", 1)):
        monkeypatch.setenv("NEWSQA_LLM_THREADS", value)
        assert resolve(generator=True).llm.threads == threads
    for bad in ("two", "0", "-1", "1.5"):
        monkeypatch.setenv("NEWSQA_LLM_THREADS", bad)
        with pytest.raises(NewsqaError, match="NEWSQA_LLM_THREADS") as caught:
            resolve(generator=True)
        assert "auto" in (caught.value.hint or "")


@pytest.mark.models
def test_a_real_model_follows_the_free_cpus_and_answers_the_same(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import llama_cpp

    from qa.answer.prompts import SHORT_ANSWER_EXAMPLES, SHORT_ANSWER_STOP, SHORT_ANSWER_TEMPLATE
    from qa.core.settings import cache_dir
    from qa.models import generators
    from qa.models.catalog import default_gguf

    path = default_gguf(cache_dir())
    assert path is not None
    prompt = SHORT_ANSWER_EXAMPLES + SHORT_ANSWER_TEMPLATE.format(
        context="The Saltmarsh ferry will add three daily sailings in winter, the operator "
                "said on Monday.", question="How many sailings will the ferry add?")
    generator = generators.LlamaGenerator(path)
    free = [2, 1, 2]
    monkeypatch.setattr(generators, "free_cpus", lambda: free.pop(0))
    monkeypatch.setattr(generators, "REFIT_S", 0.0)  # measured before every prompt here
    answers, threads = [], []
    for _ in range(3):
        answers.append("".join(generator.complete(prompt, max_tokens=12, stop=SHORT_ANSWER_STOP)))
        threads.append(llama_cpp.llama_n_threads(generator.load().ctx))
    generator.close()
    assert threads == [2, 1, 2]
    assert answers[0] == answers[1] == answers[2] and answers[0].strip()

    fixed = generators.LlamaGenerator(path, n_threads=1)
    monkeypatch.setattr(generators, "free_cpus", lambda: pytest.fail("a fixed count is kept"))
    assert fixed.fit_threads() == 1
    fixed.close()


def test_one_answers_prompts_share_one_look_at_the_cpus(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    from qa.models import generators

    looks: list[int] = []
    monkeypatch.setattr(generators, "free_cpus", lambda: looks.append(1) or 1)
    monkeypatch.setattr(generators, "check_gguf", lambda path: None)
    generator = generators.LlamaGenerator(tmp_path / "model.gguf")
    generator._llm = _NoModel()  # nothing to load: only the thread count is asked of it
    monkeypatch.setattr("llama_cpp.llama_set_n_threads", lambda ctx, a, b: None)
    for _ in range(4):
        assert generator.fit_threads() == 1
    assert looks == [1]
    monkeypatch.setattr(generators, "REFIT_S", 0.0)
    generator.fit_threads()
    assert looks == [1, 1]


class _NoModel:
    ctx = None
