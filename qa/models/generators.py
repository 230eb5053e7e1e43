"""The generator seam: a prompt in, text out a piece at a time."""

from __future__ import annotations

import atexit
import contextlib
import functools
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from qa.core.errors import NewsqaError
from qa.core.stderr import quiet_stderr
from qa.models.cpus import cpu_count, free_cpus

GGUF_MAGIC = b"GGUF"


class Generator(Protocol):
    """Completes `prompt`, yielding text as it is generated, stopping at any of `stop`."""

    @property
    def name(self) -> str:
        """What answered, as the answer's `model` field reports it."""
        ...

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str]) -> Iterator[str]: ...


@runtime_checkable
class OptionScorer(Protocol):
    """Scores how likely each option is as the continuation of `prompt`. A generator may
    also be one (llama.cpp's is; a server's is not): test with `isinstance`."""

    def score_options(self, prompt: str, options: Sequence[str]) -> list[float]: ...


def check_gguf(path: Path) -> None:
    """A clear error for a path that is missing or not a GGUF file, before llama.cpp sees it."""
    if not path.is_file():
        raise NewsqaError(f"model file {path} does not exist",
                          hint="pass a .gguf file with --model, or put one in models/")
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise NewsqaError(f"{path} is not a GGUF model file",
                              hint="newsqa runs llama.cpp models in GGUF format (.gguf)")


@functools.cache
def _close_llama_devnull_at_exit() -> None:
    """llama_cpp opens /dev/null twice when imported (`llama_cpp._utils`, to silence model
    loads) and never closes it: Python warns of two unclosed files at exit (a ResourceWarning,
    shown by `python -X dev` and in test runs). llama_cpp uses them only while it loads a model,
    so they are closed at exit, before the interpreter tears its modules down."""
    import llama_cpp._utils as utils

    def close() -> None:
        for name in ("outnull_file", "errnull_file"):
            handle = getattr(utils, name, None)
            if handle is not None and hasattr(handle, "close"):
                handle.close()

    atexit.register(close)


# The free CPUs are measured again before a prompt at most this often (each look waits 50 ms).
REFIT_S = 1.0


class LlamaGenerator:
    """A GGUF model run in-process by llama.cpp; loaded once, on first use."""

    def __init__(self, path: Path, n_ctx: int = 2048, n_threads: int | None = None,
                 verbose: bool = False) -> None:
        check_gguf(path)
        self.path = path
        self.name = path.name
        self.n_ctx = n_ctx
        # None: before each prompt, as many threads as this process's CPUs free of other work
        # (qa/models/cpus.py); a number: always that many.
        self.fixed_threads = n_threads
        self.n_threads = n_threads or cpu_count()
        self._fitted_at = -REFIT_S
        self.verbose = verbose
        self._llm: Any = None

    def load(self) -> Any:
        if self._llm is None:
            from llama_cpp import Llama

            _close_llama_devnull_at_exit()
            try:
                # llama.cpp prints its load log on the C-level stderr: keep the terminal clean.
                with contextlib.nullcontext() if self.verbose else quiet_stderr():
                    self._llm = Llama(model_path=str(self.path), n_ctx=self.n_ctx,
                                      n_threads=self.n_threads, verbose=self.verbose)
            except ValueError as exc:
                raise NewsqaError(f"llama.cpp could not load {self.path} ({exc})",
                                  hint="check that the file is a complete GGUF model") from exc
        return self._llm

    def fit_threads(self) -> int:
        """Run the next prompt on as many threads as there are free CPUs now (unless a number
        was given): threads that outnumber the free cores wait for each other by spinning."""
        llm = self.load()
        if self.fixed_threads is None and time.monotonic() - self._fitted_at < REFIT_S:
            return self.n_threads  # one answer's prompts follow each other closely
        wanted = self.fixed_threads or free_cpus()
        self._fitted_at = time.monotonic()
        if wanted != self.n_threads:
            from llama_cpp import llama_set_n_threads

            llama_set_n_threads(llm.ctx, wanted, wanted)
            self.n_threads = wanted
        return wanted

    def score_options(self, prompt: str, options: Sequence[str]) -> list[float]:
        """Mean log-probability per token of each option after `prompt` (a leading space is
        added to each option). The prompt is evaluated once; each option reuses its KV cache."""
        import numpy as np
        from llama_cpp import llama_get_logits

        llm = self.load()
        self.fit_threads()
        n_vocab = llm.n_vocab()

        def last_logprobs() -> Any:
            logits = np.ctypeslib.as_array(llama_get_logits(llm.ctx), shape=(n_vocab,))
            shifted = logits - logits.max()
            return shifted - np.log(np.exp(shifted).sum())

        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True)
        shared = 0
        for have, want in zip(llm.input_ids[: llm.n_tokens], tokens[:-1], strict=False):
            if have != want:
                break
            shared += 1
        llm.n_tokens = shared
        llm.eval(tokens[shared:])
        first = last_logprobs().copy()
        scores = []
        for option in options:
            option_tokens = llm.tokenize((" " + option.strip()).encode("utf-8"), add_bos=False)
            if not option_tokens:
                scores.append(float("-inf"))
                continue
            total = float(first[option_tokens[0]])
            llm.n_tokens = len(tokens)
            for previous, token in zip(option_tokens, option_tokens[1:], strict=False):
                llm.eval([previous])
                total += float(last_logprobs()[token])
            scores.append(total / len(option_tokens))
        # Leave the prompt one token short of cached, so the next completion replays its last
        # token and samples from fresh logits rather than from the last option's.
        llm.n_tokens = len(tokens) - 1
        return scores

    def prime(self, opening: str) -> None:
        """Evaluate the fixed opening of every prompt now (the worked examples), so that a
        question's prompt evaluates only what follows it: llama.cpp keeps the KV cache of the
        longest prefix a new prompt shares with what it evaluated last."""
        llm = self.load()
        llm.reset()
        # Through a completion, so that the opening is tokenised as a prompt is (BOS or not).
        llm.create_completion(opening, max_tokens=1, temperature=0.0)

    def close(self) -> None:
        """Free the model now rather than at interpreter exit."""
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    def count_tokens(self, text: str) -> int:
        return len(self.load().tokenize(text.encode("utf-8"), add_bos=False))

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str]) -> Iterator[str]:
        llm = self.load()
        self.fit_threads()
        stream = llm(prompt, max_tokens=max_tokens, stop=list(stop), temperature=0.0,
                     stream=True)
        for part in stream:
            text = part["choices"][0]["text"]
            if text:
                yield text
