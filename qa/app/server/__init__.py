"""`newsqa serve` and `newsqa mcp`: the archive answered over HTTP (an API and, later, a page)
and as MCP tools, from one service that any front end can hold."""
