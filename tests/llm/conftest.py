from tests.llm.scripted import anthropic_model, openai_model

__all__ = ["anthropic_model", "openai_model"]
