"""What AI agents see: the management API as MCP tools."""
