"""The rag path: retrieval from the memory (patterns, defects, production samples), adapted
into fresh, valid records with their provenance; edge cases from the schema itself. The vector
store and the embedder are ports (``tda.ports.memory``); LanceDB, Weaviate and ONNX Runtime
live in ``tda.adapters``."""
