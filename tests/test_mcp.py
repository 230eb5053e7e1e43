"""The MCP tools: in memory through the SDK's own client, and at `/mcp` of a served app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from mcp.client import Client
from typer.testing import CliRunner

from qa.app.cli import app as cli_app
from qa.app.server.api import create_app
from qa.app.server.mcp import tools_for
from qa.app.server.service import Service
from tests.served import BASES, serving

T = TypeVar("T")
runner = CliRunner()


def _with_client(server: Any, use: Callable[[Client], Awaitable[T]]) -> T:
    async def run() -> T:
        async with Client(server) as client:
            return await use(client)

    return asyncio.run(run())


def test_three_read_only_tools_with_the_answer_contract_as_output(service: Service) -> None:
    tools = _with_client(tools_for(service), lambda c: c.list_tools())
    by_name = {tool.name: tool for tool in tools.tools}
    assert set(by_name) == {"ask", "search", "get_article"}
    for tool in by_name.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
    ask = by_name["ask"]
    assert set(ask.input_schema["properties"]) == {"question", "since", "until", "as_of",
                                                   "source", "k"}
    assert ask.input_schema["required"] == ["question"]
    assert ask.output_schema is not None
    assert {"question", "answer", "answerable", "citations", "retrieved", "model",
            "timings"} <= set(ask.output_schema["properties"])


def test_ask_gives_what_newsqa_ask_json_prints(service: Service) -> None:
    printed = json.loads(runner.invoke(cli_app, ["ask", "--json", BASES]).stdout)
    result = _with_client(tools_for(service), lambda c: c.call_tool("ask", {"question": BASES}))
    assert not result.is_error
    answer = result.structured_content
    assert isinstance(answer, dict)
    assert {k: v for k, v in answer.items() if k != "timings"} == \
        {k: v for k, v in printed.items() if k != "timings"}
    assert answer["answerable"] and "Khmeimim" in answer["answer"]


def test_search_then_get_article(service: Service) -> None:
    async def use(client: Client) -> tuple[Any, Any]:
        found = await client.call_tool("search", {"query": BASES, "source": "meridian",
                                                  "k": 2})
        first = found.structured_content["hits"][0]["article_id"]
        return found, await client.call_tool("get_article", {"id": first})

    found, article = _with_client(tools_for(service), use)
    hits = found.structured_content["hits"]
    assert hits and {h["source"] for h in hits} == {"Meridian Post"}
    shown = article.structured_content
    assert shown["id"] == hits[0]["article_id"] and shown["source"] == "Meridian Post"
    assert hits[0]["text"] in shown["text"]


def test_bad_input_is_a_tool_error_with_the_clis_words(service: Service) -> None:
    async def use(client: Client) -> list[Any]:
        return [await client.call_tool("ask", {"question": BASES, "since": "soonish"}),
                await client.call_tool("search", {"query": BASES, "k": 500}),
                await client.call_tool("get_article", {"id": "nope"})]

    dated, too_many, unknown = _with_client(tools_for(service), use)
    for result, words in ((dated, ["--since 'soonish' is not a date",
                                   "hint: write it as --since 2024-12-09"]),
                          (too_many, ["--k must be between 1 and 100", "hint: try --k 5"]),
                          (unknown, ["no stored article has the id 'nope'"])):
        assert result.is_error
        text = " ".join(getattr(block, "text", "") for block in result.content)
        for said in words:
            assert said in text
        assert "Traceback" not in text


def test_the_tools_at_slash_mcp_of_the_server_behind_its_key(service: Service) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    app = create_app(service, api_key="k3y", allowed_hosts=["127.0.0.1"])
    with serving(app) as url:
        refused = httpx2.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1,
                                                  "method": "tools/list"})
        assert refused.status_code == 401

        async def run() -> Any:
            async with httpx2.AsyncClient(headers={"Authorization": "Bearer k3y"},
                                          timeout=30) as http, \
                    Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
                listed = await client.list_tools()
                asked = await client.call_tool("ask", {"question": BASES})
                return listed, asked

        listed, asked = asyncio.run(run())
    assert {tool.name for tool in listed.tools} == {"ask", "search", "get_article"}
    assert asked.structured_content["answerable"]
    assert "Khmeimim" in asked.structured_content["answer"]


@pytest.mark.models
def test_newsqa_mcp_on_stdio_with_the_real_models(sample_dir: Path) -> None:
    import os
    import sys

    from mcp.client.stdio import StdioServerParameters

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    server = StdioServerParameters(command=sys.executable, args=["-m", "qa", "mcp"],
                                   cwd=str(sample_dir), env=env)
    result = _with_client(server, lambda c: c.call_tool("ask", {"question": BASES}))
    assert not result.is_error
    answer = result.structured_content
    assert answer["answerable"] and "Khmeimim" in answer["answer"]
    assert answer["citations"] and answer["model"] == "gemma-3-270m-q4_k_m.gguf"
