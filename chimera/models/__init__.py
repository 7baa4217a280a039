"""Pure pydantic models; nothing here imports the rest of chimera."""
