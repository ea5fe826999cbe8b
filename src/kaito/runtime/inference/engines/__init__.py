"""Generation engines behind one interface (:mod:`.base`): our batched engine and vLLM."""
