"""NegEx-style context of clinical text: is a finding negated, uncertain, or about someone other than the patient?

Rules are trigger phrases whose scope runs forward to the end of the sentence (clinic.text's sentences) or to a
scope terminator ("but", "however", a semicolon, …); post-triggers ("… was ruled out", "… is unlikely") reach back
to the sentence start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clinic.text import sentences

_NEGATION_PRE = (
    r"no|not|denies|denied|denying|without|negative for|free of|absence of|absent|no evidence of|no signs? of|"
    r"never had|never|nor|fails to reveal|ruled out for|rules out|resolved|no history of|no complaints? of"
)
_NEGATION_POST = r"ruled out|was negative|is negative|were negative|unlikely|absent|not present|not seen"
_UNCERTAIN_PRE = (
    r"rule out|r/o|possible|possibly|probable|probably|suspected|suspect|suspicious for|questionable|query|"
    r"may|might|could be|cannot be excluded|cannot exclude|concern for|concerning for|versus|vs\.?|differential|"
    r"likely|consider|evaluate for|worrisome for"
)
_UNCERTAIN_POST = r"cannot be excluded|not excluded|is possible|is suspected|\?"
_OTHER_SUBJECT = (
    r"mother|father|sister|brother|sibling|grandmother|grandfather|aunt|uncle|cousin|son|daughter|wife|husband|"
    r"parent|parents|family history|fh|maternal|paternal"
)
_TERMINATORS = r"but|however|although|though|except|aside from|apart from|which|who|secondary to|due to|presents? with"

_TERMINATOR = re.compile(rf"\b(?:{_TERMINATORS})\b|;", re.I)  # a semicolon ends a scope, not a sentence
_RULES: list[tuple[str, re.Pattern[str], bool]] = [
    ("negated", re.compile(rf"\b(?:{_NEGATION_PRE})\b", re.I), True),
    ("negated", re.compile(rf"\b(?:{_NEGATION_POST})\b", re.I), False),
    ("uncertain", re.compile(rf"(?:\b(?:{_UNCERTAIN_PRE})\b)", re.I), True),
    ("uncertain", re.compile(rf"(?:{_UNCERTAIN_POST})", re.I), False),
    ("other_subject", re.compile(rf"\b(?:{_OTHER_SUBJECT})\b", re.I), True),
]
# Whether a sentence can hold a trigger at all, without the five alternation scans of _RULES (slow in Python's re:
# ~0.1 ms a sentence): a word-anchored trigger needs its first word among the sentence's words, and the
# post-triggers that are not anchored (_UNCERTAIN_POST) need their text in it. Most sentences have none.
_ANCHORED = (_NEGATION_PRE, _NEGATION_POST, _UNCERTAIN_PRE, _OTHER_SUBJECT)
_FIRST_WORDS = frozenset(re.findall(r"[a-z]+", phrase)[0] for group in _ANCHORED for phrase in group.split("|"))
_UNANCHORED = tuple(phrase.replace("\\", "") for phrase in _UNCERTAIN_POST.split("|"))
_WORD = re.compile(r"\w+")


def _may_trigger(sentence: str) -> bool:
    lowered = sentence.lower()
    return not _FIRST_WORDS.isdisjoint(_WORD.findall(lowered)) or any(phrase in lowered for phrase in _UNANCHORED)


@dataclass(frozen=True)
class Context:
    negated: bool = False
    uncertain: bool = False
    other_subject: bool = False


def _scopes(sentence: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) character spans of the sentence that a trigger governs."""
    return _rule_spans(sentence) if _may_trigger(sentence) else []


def _rule_spans(sentence: str) -> list[tuple[int, int, str]]:
    spans = []
    for kind, pattern, forward in _RULES:
        for match in pattern.finditer(sentence):
            if forward:
                stop = _TERMINATOR.search(sentence, match.end())
                spans.append((match.end(), stop.start() if stop else len(sentence), kind))
            else:
                before = list(_TERMINATOR.finditer(sentence, 0, match.start()))
                spans.append((before[-1].end() if before else 0, match.start(), kind))
    return spans


def text_context(text: str) -> Context:
    """Whether any part of the text is negated, uncertain or about another person (chunk-level tags)."""
    kinds = {kind for sentence in sentences(text) for *_, kind in _scopes(sentence.text)}
    return Context(negated="negated" in kinds, uncertain="uncertain" in kinds, other_subject="other_subject" in kinds)


def term_context(text: str, terms: list[str]) -> Context | None:
    """The context of the query terms where they occur in text: a flag holds only if every mention has it.

    Terms match as word prefixes (a crude stem), so "pneumonia" finds "pneumonias". None when no term occurs.
    """
    patterns = [re.compile(rf"\b{re.escape(t)}", re.I) for t in terms if len(t) > 2]
    found = sorted(match.start() for pattern in patterns for match in pattern.finditer(text))
    if not found or not _may_trigger(text):
        return Context() if found else None  # no trigger anywhere: every mention is plain (and no sentence to split)
    mentions: list[set[str]] = []
    for sentence in sentences(text):
        inside = [at - sentence.start for at in found if sentence.start <= at < sentence.end]
        if inside:
            spans = _scopes(sentence.text)
            mentions.extend({kind for start, end, kind in spans if start <= at < end} for at in inside)
    if not mentions:
        return None
    return Context(
        negated=all("negated" in m for m in mentions),
        uncertain=all("uncertain" in m for m in mentions),
        other_subject=all("other_subject" in m for m in mentions),
    )
