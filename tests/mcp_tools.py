"""Calling the panel's MCP tools from a test, over whichever transport the session uses."""

from __future__ import annotations

from typing import Any

from mcp.client.session import ClientSession
from mcp_types import CallToolResult, TextContent


async def call(session: ClientSession, tool: str, **arguments: Any) -> CallToolResult:
    result = await session.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    return result


async def answer(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured result; a tool error fails the test with its text."""
    result = await call(session, tool, **arguments)
    assert not result.is_error, error_text(result)
    content: dict[str, Any] | None = result.structured_content
    assert content is not None, f"{tool} gave no structured result"
    return content


def error_text(result: CallToolResult) -> str:
    """A tool error's text, which must be one, say something and hold no traceback."""
    assert result.is_error, f"expected a tool error, got {result.structured_content}"
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    assert texts, "a tool error without text"
    text = "\n".join(texts)
    assert "Traceback" not in text
    return text
