"""The OpenAI-compatible API: wire models, serving logic and routes (vLLM's split, STYLE.md §3)."""
