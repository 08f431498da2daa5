"""Word lists behind the name rules, loaded once per process.

- First and last names: the 1990 US Census name files (public domain) as shipped in the `names` package (MIT).
- Dictionary words: Webster's Second International (public domain) as shipped in `english-words` (MIT); a word
  that the dictionary writes in lower case is an ordinary word ("will", "may", "long"), which weighs against a
  name when nothing else in the sentence says "person".
- Clinical terms: eponyms, scales, drug and device brands (`data/clinical_terms.txt`, written for Carebase).
"""

from __future__ import annotations

import functools
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

# Words that open sentences or label sections and are never a person on their own.
STOPWORDS = frozenset(
    """A An And Are As At Be But By For From Had Has Have He Her Hers Him His I If In Into Is It Its Me My No Nor Not
    Of On Or Our She So That The Their Them Then There These They This Those To Was We Were What When Where Which Who
    Will With Would You Your Can Could Might Must Shall Should Did Do Does Per Via Yes Also Both Each Either
    Patient Patients Pt Pts Mother Father Son Daughter Wife Husband Family Sister Brother Baby Infant Child Boy Girl
    Male Female Man Woman Gentleman Lady Hospital Clinic Center Medical Medicine Surgery Surgical Cardiology Neurology
    Oncology Radiology Pathology Pediatrics Psychiatry Urology Orthopedics Dermatology Nephrology Gastroenterology
    Pulmonary Pulmonology Emergency Department Service Services Team Unit Floor Room Office Plan Assessment
    Impression History Physical Exam Examination Diagnosis Diagnoses Procedure Procedures Findings Indications
    Allergies Medications Social Review Systems Chief Complaint Present Illness Past Discharge Admission Follow Up
    Note Notes Report Summary Comments Signature Signed Electronically Date Time Phone Fax Email Address Home Work
    Cell Contact Name Names Attending Resident Fellow Nurse Physician Doctor Provider Surgeon Assistant Anesthesia
    General Local Spinal Epidural Monitored Sedation None Unknown Negative Positive Normal Abnormal Left Right
    Bilateral Anterior Posterior Superior Inferior Medial Lateral Proximal Distal Upper Lower Mild Moderate Severe
    Acute Chronic Stable Good Fair Poor Daily Weekly Monthly Today Yesterday Tomorrow Morning Evening Night
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March July September October November
    December Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Mon Tue Wed Thu Fri Sat Sun
    Street Avenue Road Drive Boulevard Suite Apt Apartment Unit Box Building New Saint""".split()
)


@functools.cache
def first_names() -> frozenset[str]:
    import names

    folder = Path(names.__file__).resolve().parent
    return frozenset(_census_names(folder / "dist.female.first") | _census_names(folder / "dist.male.first"))


@functools.cache
def last_names() -> frozenset[str]:
    import names

    return frozenset(_census_names(Path(names.__file__).resolve().parent / "dist.all.last"))


def _census_names(path: Path) -> set[str]:
    """Census files: NAME  freq  cumulative  rank; O'Brien and McDonald are written OBRIEN and MCDONALD there."""
    found = set()
    for line in path.read_text().splitlines():
        if line.strip():
            name = line.split()[0].title()
            found.add(name)
            if name.startswith("Mc") and len(name) > 3:
                found.add("Mc" + name[2:].title())
    return found


@functools.cache
def ordinary_words() -> frozenset[str]:
    """Words the dictionary writes in lower case (so 'will', 'may', 'brown'; not 'Parkinson')."""
    from english_words import get_english_words_set

    return frozenset(w for w in get_english_words_set(["web2"], alpha=True) if w[:1].islower())


@functools.cache
def clinical_terms() -> frozenset[str]:
    words: set[str] = set()
    for line in (DATA / "clinical_terms.txt").read_text().splitlines():
        if not line.startswith("#"):
            words.update(line.split())
    return frozenset(words)


def is_ordinary(word: str) -> bool:
    """In the dictionary in lower case, directly or as an inflection ('polyps', 'cultures', 'indicated')."""
    lower, words = word.lower(), ordinary_words()
    if lower in words:
        return True
    for ending, replacement in (
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("ed", ""),
        ("ed", "e"),
        ("ing", ""),
        ("ing", "e"),
        ("ly", ""),
    ):
        if lower.endswith(ending) and len(lower) - len(ending) >= 4 and lower[: -len(ending)] + replacement in words:
            return True
    return False


def is_first_name(word: str) -> bool:
    return word in first_names()


def is_last_name(word: str) -> bool:
    return word in last_names()


@functools.cache
def cities() -> frozenset[str]:
    return frozenset(
        line.strip() for line in (DATA / "us_cities.txt").read_text().splitlines() if line.strip() and not line.startswith("#")
    )
