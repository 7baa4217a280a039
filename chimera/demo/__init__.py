"""Demo pieces shipped with chimera: a small support-desk MCP server and its data."""
