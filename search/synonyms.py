"""Clinical abbreviations and synonyms used to expand keyword queries (both directions)."""

from __future__ import annotations

import re

_GROUPS = [
    ("htn", "hypertension", "high blood pressure"),
    ("mi", "myocardial infarction", "heart attack"),
    ("sob", "shortness of breath", "dyspnea", "dyspnoea"),
    ("dm", "diabetes mellitus", "diabetes"),
    ("t2dm", "type 2 diabetes"),
    ("chf", "congestive heart failure", "heart failure"),
    ("copd", "chronic obstructive pulmonary disease"),
    ("cad", "coronary artery disease"),
    ("afib", "af", "atrial fibrillation"),
    ("cva", "stroke", "cerebrovascular accident"),
    ("tia", "transient ischemic attack"),
    ("pe", "pulmonary embolism"),
    ("dvt", "deep vein thrombosis"),
    ("uti", "urinary tract infection"),
    ("uri", "upper respiratory infection"),
    ("ckd", "chronic kidney disease"),
    ("aki", "acute kidney injury"),
    ("gerd", "gastroesophageal reflux", "acid reflux", "heartburn"),
    ("cp", "chest pain"),
    ("ha", "headache"),
    ("n/v", "nausea and vomiting"),
    ("abd", "abdominal"),
    ("hx", "history"),
    ("fhx", "fh", "family history"),
    ("dx", "diagnosis"),
    ("tx", "treatment"),
    ("rx", "prescription"),
    ("sx", "symptoms"),
    ("bp", "blood pressure"),
    ("hr", "heart rate"),
    ("ekg", "ecg", "electrocardiogram"),
    ("ct", "computed tomography", "cat scan"),
    ("mri", "magnetic resonance imaging"),
    ("cxr", "chest x-ray", "chest radiograph"),
    ("hba1c", "a1c", "glycated hemoglobin", "hemoglobin a1c"),
    ("ra", "rheumatoid arthritis"),
    ("oa", "osteoarthritis"),
    ("ms", "multiple sclerosis"),
    ("hiv", "human immunodeficiency virus"),
    ("aids", "acquired immunodeficiency syndrome"),
    ("tb", "tuberculosis"),
    ("ibs", "irritable bowel syndrome"),
    ("ibd", "inflammatory bowel disease"),
    ("adhd", "attention deficit hyperactivity disorder"),
    ("ptsd", "post-traumatic stress disorder"),
    ("bph", "benign prostatic hyperplasia"),
    ("osa", "obstructive sleep apnea", "sleep apnea"),
    ("nsaid", "nsaids", "anti-inflammatory"),
    ("mrsa", "methicillin-resistant staphylococcus aureus"),
    ("std", "sti", "sexually transmitted disease"),
    ("flu", "influenza"),
    ("ca", "cancer", "carcinoma"),
    ("fx", "fracture"),
    ("hld", "hyperlipidemia", "high cholesterol"),
]

_BY_PHRASE: dict[str, tuple[str, ...]] = {}
for group in _GROUPS:
    for phrase in group:
        _BY_PHRASE[phrase] = group
_MAX_WORDS = max(len(p.split()) for p in _BY_PHRASE)


def expansions(query: str) -> list[str]:
    """Phrases equivalent to those found in the query (not including what the query already says)."""
    words = re.findall(r"[a-z0-9/-]+", query.lower())
    found: list[str] = []
    for size in range(_MAX_WORDS, 0, -1):
        for start in range(len(words) - size + 1):
            phrase = " ".join(words[start : start + size])
            for other in _BY_PHRASE.get(phrase, ()):
                if other != phrase and other not in found:
                    found.append(other)
    return found
