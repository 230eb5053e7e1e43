"""`newsqa serve`: the HTTP API, the page and the MCP tools over one service."""
