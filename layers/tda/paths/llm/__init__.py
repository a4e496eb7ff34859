"""The LLM path: the model proposes content, the core disposes (ids, arithmetic, dates, rules),
every record validated, repaired, regenerated or filled by traditional generation, never
returned invalid. Two modes: records (small counts) and catalog (any count, from a vocabulary
the model writes once). The SDKs live in ``tda.adapters.model_clients``, behind
``tda.ports.model``."""
