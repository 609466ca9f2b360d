"""Schema migrations (tortoise's built-in migration framework), one module per change."""
