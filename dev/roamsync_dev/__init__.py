"""Dev-only tools: CLI, local stack, simulator; never shipped to Lambda."""
