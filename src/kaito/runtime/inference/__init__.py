"""The inference runtime behind ``kaito-serve``: an OpenAI-compatible server over two engines.

``--engine transformers`` runs our own continuously batched engine (CPU or GPU) in this process;
``--engine vllm`` starts vLLM's OpenAI server as a child process and fronts it with the legacy
``/chat`` endpoint and our metrics. :func:`kaito.runtime.inference.server.run_server` is the entry
point shared by the CLI and the local mode.
"""
