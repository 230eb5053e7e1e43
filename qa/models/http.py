"""A generator on the other side of an OpenAI-compatible HTTP API (llama.cpp's servers, vLLM),
so that many readers can share a pool of model servers behind a load balancer.

Only the raw-completion endpoint (`/v1/completions`) is used: newsqa's prompts are completions
with worked examples, never chat messages, so a server must not wrap them in a chat template.

There is no `score_options` here, so multiple choice falls back to its model-free scores. The
echoed prompt log-probabilities it would need are not served reliably: llama-cpp-python 0.3.36's
server pairs each echoed token with the distribution that follows it rather than the one that
predicts it (off by one token), and llama.cpp's own `llama-server` does not echo them at all.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from qa.core.errors import NewsqaError

if TYPE_CHECKING:
    from openai import OpenAI

API_KEY_ENV = "NEWSQA_LLM_API_KEY"
# llama.cpp's servers accept any key (unless started with --api_key), but the client needs one.
PLACEHOLDER_API_KEY = "no-key"
# Transient failures (connection refused, 429, 5xx) are retried with backoff by the client:
# behind a load balancer the next attempt usually reaches a healthy server.
MAX_RETRIES = 2
START_HINT = ("start one with `python -m llama_cpp.server --model FILE.gguf --port 8080` "
              "(pip install 'llama-cpp-python[server]'), or check the URL")


def api_base(url: str) -> str:
    """`url` as the API's base, ending in /v1: `host:8080`, `http://host:8080/` and
    `http://host:8080/v1` all name the same server."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise NewsqaError(f"{url} is not an http(s) URL",
                          hint="give the server's address, e.g. http://127.0.0.1:8080/v1")
    base = url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def short_model_name(model_id: str) -> str:
    """llama.cpp servers name a model by the path of its GGUF file; the file name is enough
    (and is what the in-process generator reports). Other ids (`org/model`) are kept whole."""
    if model_id.lower().endswith(".gguf"):
        return re.split(r"[/\\]", model_id)[-1]
    return model_id


class HttpGenerator:
    """Completions streamed from an OpenAI-compatible server at `base_url`.

    `model` defaults to the first model the server lists, asked for on first use; `api_key`
    (the CLI passes $NEWSQA_LLM_API_KEY) defaults to a placeholder (llama.cpp ignores it);
    `timeout` is how long to wait, in seconds, to connect or for the next piece of text."""

    def __init__(self, base_url: str, *, model: str | None = None, api_key: str | None = None,
                 timeout: float = 60.0) -> None:
        self.base_url = api_base(base_url)
        self.host = urlsplit(self.base_url).netloc
        self.timeout = timeout
        self._model = model
        self._api_key = api_key or PLACEHOLDER_API_KEY
        self._client: OpenAI | None = None

    @property
    def name(self) -> str:
        """`SmolLM2-135M-Instruct.Q4_1.gguf@127.0.0.1:8080`: what answered, and where. Only
        the address while the model is not known yet: reading a name never calls the server."""
        if self._model is None:
            return self.host
        return f"{short_model_name(self._model)}@{self.host}"

    def client(self) -> OpenAI:
        if self._client is None:
            try:
                from openai import OpenAI
            except ImportError as exc:
                raise NewsqaError("the openai package is not installed",
                                  hint="pip install 'newsqa[http]' (or pip install openai)"
                                  ) from exc
            self._client = OpenAI(base_url=self.base_url, api_key=self._api_key,
                                  timeout=self.timeout, max_retries=MAX_RETRIES)
        return self._client

    def model_id(self) -> str:
        """The model to request: the one given, else the first the server lists."""
        if self._model is None:
            client = self.client()
            with self._errors():
                models = [m.id for m in client.models.list()]
            if not models:
                raise NewsqaError(f"the language model server at {self.base_url} serves no model",
                                  hint="start it with --model FILE.gguf")
            self._model = models[0]
        return self._model

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str]) -> Iterator[str]:
        model = self.model_id()
        client = self.client()
        with self._errors():
            # Greedy, as in-process. llama-cpp-python's server penalises repeats by default
            # (1.1) where the library does not (1.0); other servers ignore the field.
            stream = client.completions.create(
                model=model, prompt=prompt, max_tokens=max_tokens, temperature=0.0,
                stop=list(stop) or None, stream=True, extra_body={"repeat_penalty": 1.0})
            with stream:  # closing early (Ctrl-C, a consumer that stops) hangs up on the server
                for chunk in stream:
                    text = chunk.choices[0].text if chunk.choices else ""
                    if text:
                        yield text

    def close(self) -> None:
        """Close the client's connections now rather than at interpreter exit."""
        if self._client is not None:
            self._client.close()
            self._client = None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """The client's exceptions as user errors that name the server and what to do."""
        import openai

        where = f"the language model server at {self.base_url}"
        dropped = _transport_errors()
        try:
            yield
        except openai.APITimeoutError as exc:
            raise NewsqaError(f"{where} did not answer within {self.timeout:g} s",
                              hint="check that it is running and not overloaded") from exc
        except openai.APIConnectionError as exc:
            raise _unreachable(where, exc.__cause__) from exc
        except openai.APIStatusError as exc:
            raise _status_error(where, exc.status_code, _server_message(exc)) from exc
        except openai.APIError as exc:
            raise NewsqaError(f"{where} failed: {_server_message(exc)}",
                              hint="see the server's log") from exc
        except dropped as exc:
            raise _unreachable(where, exc) from exc


def _transport_errors() -> tuple[type[Exception], ...]:
    """The HTTP library's own errors. openai releases before some 3.x let them out of a stream
    whose connection drops, rather than wrap them as APIConnectionError."""
    modules = (sys.modules.get(name) for name in ("httpx2", "httpx"))
    return tuple(module.HTTPError for module in modules if module is not None)


def _unreachable(where: str, cause: BaseException | None) -> NewsqaError:
    reason = f" ({_clip(str(cause))})" if cause is not None and str(cause) else ""
    return NewsqaError(f"cannot reach {where}{reason}", hint=START_HINT)


def _server_message(exc: Exception) -> str:
    """What the server said: the `message` (or FastAPI's `detail`) of its JSON error body,
    else the client's summary without its `Error code: NNN` prefix."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        said = inner.get("message") if isinstance(inner, dict) else inner
        said = said or body.get("detail")
        if isinstance(said, str) and said.strip():
            return _clip(said)
    message = str(getattr(exc, "message", exc))
    return _clip(re.sub(r"^Error code: \d+( - )?", "", message))


def _status_error(where: str, status: int, detail: str) -> NewsqaError:
    said = f"{where} answered HTTP {status}" + (f": {detail}" if detail else "")
    if status in (401, 403):
        return NewsqaError(said, hint=f"set {API_KEY_ENV} to the server's API key")
    if status == 404:
        return NewsqaError(said, hint="check the URL (the server's OpenAI-compatible API, e.g. "
                                      "http://127.0.0.1:8080/v1) and the model name")
    return NewsqaError(said, hint="see the server's log")


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
