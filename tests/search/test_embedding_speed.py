"""The fast (CPU) and half (GPU) embedding backends give SentenceTransformer's vectors, in input order, and step aside
when told to. Half runs here on the CPU: same code path, float16 arithmetic, no GPU needed."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from search import embedding

LONG = " ".join(
    f"Day {i}: afebrile, heart rate {70 + i % 9}, blood pressure {118 + i % 7}/{76 + i % 5}, tolerating diet, "
    "ambulating with physical therapy, wound clean and dry, continue enoxaparin prophylaxis."
    for i in range(1, 30)
)  # far past 256 word pieces: both sides must truncate the same way

TEXTS = [
    "Chest pain",
    "HPI: 67-year-old man with crushing substernal chest pain radiating to the left arm, diaphoretic, onset 40 minutes ago.",
    "Patient denies chest pain, shortness of breath or palpitations.",
    "Assessment: Type 2 diabetes mellitus, poorly controlled (HbA1c 9.1%). Plan: add empagliflozin 10 mg daily.",
    "Hypertension, stable on lisinopril 20 mg and amlodipine 5 mg.",
    "Family history: mother with breast cancer at 50; father with MI at 62.",
    "Allergies: penicillin (anaphylaxis), sulfa (rash).",
    "CT head without contrast: no acute intracranial hemorrhage, mass effect or midline shift.",
    "Impression: right lower lobe consolidation consistent with community-acquired pneumonia.",
    "Potassium 5.9 mmol/L, creatinine 2.3 mg/dL (baseline 1.1): acute kidney injury, hold ACE inhibitor.",
    "Migraine with aura, 3-4 episodes per month; start propranolol for prophylaxis.",
    "Knee: effusion, positive Lachman test, suspect ACL tear; MRI ordered.",
    "Depression screening PHQ-9 score 17 (moderately severe); referred to psychiatry, sertraline 50 mg started.",
    "Warfarin for atrial fibrillation, INR 4.2 with gum bleeding; hold two doses, recheck INR Thursday.",
    "Asthma exacerbation: wheeze bilaterally, peak flow 55% predicted, nebulized albuterol and ipratropium given.",
    "Insulin glargine 24 units at bedtime; hypoglycemia overnight to 52 mg/dL.",
    "Lumbar back pain after lifting, no saddle anesthesia, no bowel or bladder dysfunction.",
    "Seizure: generalized tonic-clonic lasting 2 minutes, postictal confusion, levetiracetam loaded.",
    "Stroke alert: left facial droop, right arm drift, aphasia; last known well 08:15; tPA considered.",
    "Anemia: hemoglobin 7.8 g/dL, MCV 72 fL, ferritin 6 ng/mL, iron deficiency; colonoscopy referral.",
    "Pediatric: 2-year-old with fever 39.4 °C, otalgia, bulging tympanic membrane — acute otitis media.",
    "Pregnancy 32 weeks, blood pressure 152/98, proteinuria 2+, headache: preeclampsia with severe features?",
    "Post-op day 2 after laparoscopic cholecystectomy, tolerating diet, discharge home.",
    "COPD GOLD 3, on tiotropium and budesonide/formoterol; home oxygen 2 L.",
    "Sepsis: lactate 4.1, MAP 58 after 30 mL/kg crystalloid, norepinephrine started, blood cultures drawn.",
    "Rash: erythematous target lesions on palms and soles after starting lamotrigine.",
    "Smoker 30 pack-years, counselled on cessation, varenicline prescribed.",
    "ok",
    "",
    LONG,
]


@pytest.fixture(scope="module")
def path() -> str:
    return embedding.configured_model()[1]


@pytest.fixture(scope="module")
def reference(path) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    plain = SentenceTransformer(path, device="cpu")
    return plain.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


@pytest.fixture
def fast(settings, path) -> str:
    settings.EMBEDDING_MODEL = ""
    settings.EMBEDDING_BACKEND = "fast"
    assert embedding.backend(path).startswith("fast-"), "the fast backend fell back to torch on this CPU"
    return path


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_fast_vectors_match_sentence_transformers(fast, reference):
    vectors = embedding.encode(TEXTS, path=fast)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384) == reference.shape
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cos = cosines(vectors, reference)
    assert cos.min() >= 0.99, {TEXTS[i][:40]: round(float(cos[i]), 4) for i in np.argsort(cos)[:3]}
    assert cos.mean() >= 0.999
    assert cos[-1] >= 0.99  # the long note: truncated exactly where SentenceTransformer truncates


def test_rows_come_back_in_input_order_whatever_the_batching(fast, reference, monkeypatch):
    order = np.random.default_rng(3).permutation(len(TEXTS))
    shuffled = [TEXTS[i] for i in order]
    # Tiny groups and token budgets: many batches and several tokenization groups over 30 texts.
    monkeypatch.setattr(embedding, "TOKENIZE_GROUP", 7)
    monkeypatch.setattr(embedding, "TOKEN_BUDGET", 300)
    vectors = embedding.encode(shuffled, path=fast)
    assert cosines(vectors, reference[order]).min() >= 0.99
    for i in (0, 1, 21, len(TEXTS) - 1):
        alone = embedding.encode([shuffled[i]], path=fast)
        assert alone.shape == (1, 384)
        assert float(alone[0] @ vectors[i]) >= 0.999


def test_torch_backend_on_request(settings, path, reference, fast):
    fast_vectors = embedding.encode(TEXTS[:5], path=path)
    settings.EMBEDDING_BACKEND = "torch"
    assert embedding.backend(path).startswith("torch-")
    vectors = embedding.encode(TEXTS, path=path)
    assert vectors.dtype == np.float32
    assert cosines(vectors, reference).min() >= 0.9999
    assert cosines(vectors[:5], fast_vectors).min() >= 0.99  # one index, whichever backend wrote or queries it
    assert embedding.dimension(path) == 384


def test_auto_is_fast_on_a_cpu_and_a_bad_name_is_refused(settings, path):
    import torch

    settings.EMBEDDING_BACKEND = "auto"
    assert embedding.backend(path).startswith("half-cuda" if torch.cuda.is_available() else "fast-")
    settings.EMBEDDING_BACKEND = "onnx"
    with pytest.raises(ValueError, match="EMBEDDING_BACKEND"):
        embedding.encode(["x"], path=path)


def test_a_model_is_loaded_once_per_backend(fast, monkeypatch):
    import sentence_transformers

    first = embedding._encoder(fast)

    def no_reload(*args, **kwargs):
        raise AssertionError("reloaded the model")

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", no_reload)
    assert embedding._encoder(fast) is first
    embedding.encode(["again"], path=fast)


def _unsupported(self, model):
    raise embedding._Unsupported("architecture gpt2/gelu_new")


@pytest.mark.parametrize(
    ("patch", "logged"),
    [(("self_check", lambda self: 0.5), "disagrees with torch"), (("__init__", _unsupported), "gpt2/gelu_new")],
)
def test_fast_steps_aside_for_torch_and_says_why(settings, path, monkeypatch, caplog, patch, logged):
    monkeypatch.setattr(embedding._FastEncoder, *patch)
    settings.EMBEDDING_BACKEND = "fast"
    embedding._load.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger="search.embedding"):
            assert embedding.backend(path).startswith("torch-")
        assert logged in caplog.text
        assert embedding.encode(["chest pain"], path=path).shape == (1, 384)
    finally:
        embedding._load.cache_clear()


@pytest.fixture
def half(settings, path):
    settings.EMBEDDING_MODEL = ""
    settings.EMBEDDING_BACKEND = "half"
    embedding._load.cache_clear()
    assert embedding.backend(path).startswith("half-"), "the half backend fell back to torch"
    yield path
    embedding._load.cache_clear()  # its model is float16 now: no other test may reuse it


def test_half_vectors_match_sentence_transformers_in_input_order(half, reference, monkeypatch):
    vectors = embedding.encode(TEXTS, path=half)
    assert vectors.dtype == np.float32 and vectors.shape == reference.shape
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert cosines(vectors, reference).min() >= 0.999
    order = np.random.default_rng(5).permutation(len(TEXTS))
    # Many batches over several tokenization groups: the group in flight is fetched after the next is tokenized.
    monkeypatch.setattr(embedding, "TOKENIZE_GROUP", 7)
    monkeypatch.setattr(embedding, "HALF_TOKEN_BUDGET", 300)
    shuffled = embedding.encode([TEXTS[i] for i in order], path=half)
    assert cosines(shuffled, reference[order]).min() >= 0.999
    assert float(embedding.encode([TEXTS[-1]], path=half)[0] @ reference[-1]) >= 0.999  # truncated like the reference


def test_half_steps_aside_for_a_fresh_float32_model(settings, path, reference, monkeypatch, caplog):
    monkeypatch.setattr(embedding._HalfEncoder, "self_check", lambda self: 0.9)
    settings.EMBEDDING_BACKEND = "half"
    embedding._load.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="search.embedding"):
            assert embedding.backend(path).startswith("torch-")
        assert "half disagrees with torch" in caplog.text
        # Not the float16 weights the half backend was handed: the reference vectors, to float32 rounding.
        assert cosines(embedding.encode(TEXTS, path=path), reference).min() >= 0.99999
    finally:
        embedding._load.cache_clear()


def test_tokenized_is_the_models_own_preprocessing(path):
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu")
    own, ours = model.preprocess(TEXTS), embedding._tokenized(model, TEXTS)
    assert own.keys() == ours.keys()
    for key, value in own.items():
        if isinstance(value, torch.Tensor):
            assert ours[key].dtype == value.dtype and torch.equal(ours[key], value), key
        else:
            assert ours[key] == value, key


def test_empty_input(fast):
    assert embedding.encode([], path=fast).shape == (0, 0)
