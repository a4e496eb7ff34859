"""The hybrid path: retrieved examples in the LLM path's prompt (the RAG template)."""
