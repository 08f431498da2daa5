"""Person names: context first (titles, labels, relations, signatures, 'X is a 63-year-old'), then name lists.

Strong evidence (a title, a label, a relation, a credential after the name) wins over everything; list evidence
alone (a first name followed by a surname, a name alone on its line) never takes a clinical term, an eponym in
use ("Parkinson disease", "Foley catheter", "Bell palsy") or an ordinary word ("May continue", "Will follow up").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from clinic.deid import lists

WORD = r"(?:[A-Z]['’])?[A-Z][a-z]*[a-z](?:[A-Z][a-z]+)?(?:[-'’][A-Z]?[a-z]+)*\d{0,4}\b"
INITIAL = r"[A-Z]\.?(?=[ \t])"
SEQ = rf"(?:{INITIAL}[ \t]+)?{WORD}(?:[ \t]+(?:{INITIAL}[ \t]+)?{WORD}){{0,2}}"
CAPS_SEQ = r"[A-Z][A-Z'’-]+(?:[ \t]+[A-Z]\.?)?(?:[ \t]+[A-Z][A-Z'’-]+){1,2}\b"
LAST_FIRST = rf"{WORD},[ \t]*{WORD}(?:[ \t]+{INITIAL})?|[A-Z][A-Z'’-]+,[ \t]*[A-Z][A-Z'’-]+(?:[ \t]+[A-Z]\.?)?\b"
TITLE = r"(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Doctor|Professor|Rev)\.?"

_PROFESSIONAL = r"(?:MD|M\.D\.|DO|D\.O\.|RN|NP|PA-C|APRN|CNP|CRNA|PhD|Ph\.D\.|DDS|DMD|DPM|PharmD|LPN|LCSW|MSW|FNP|FNP-C|DNP|MBBS|FACS|FACP|FACC|CNM|DVM)"
_CREDENTIALS = r"(?:" + _PROFESSIONAL[3:-1] + r"|Jr|Sr|III|II|IV)"
_HEADS = (
    r"disease|diseases|disorder|syndrome|syndromes|sign|signs|test|tests|testing|maneuver|manoeuvre|reflex|reflexes|palsy|"
    r"lymphoma|sarcoma|tumou?r|carcinoma|catheters?|scores?|scales?|grade|grading|stage|staging|classification|criteria|"
    r"operation|procedure|repair|incision|fracture|ulcer|nodes?|nodules?|phenomenon|triad|pentad|law|position|cells?|"
    r"body|bodies|duct|canal|glands?|membrane|space|ligament|bursa|fascia|pouch|hernia|diverticulum|aneurysm|anomaly|"
    r"malformation|tubes?|bag|drains?|forceps|retractors?|needle|stitch|sutures?|clamps?|scissors|blade|technique|"
    r"approach|method|stain|staining|equation|formula|index|ratio|rules?|rings?|spots?|murmur|respirations?|breathing|"
    r"point|lines?|area|angle|triangle|block|shunt|sheath|fixation|flap|dressing|boot|splint|cast|brace|screen|"
    r"screening|questionnaire|inventory|exam|examination|graft|cyst|contracture|deformity|neuroma|dystrophy|ataxia|"
    r"aphasia|paralysis|chorea|dementia|esophagus|frame|pins?|wires?|rods?|filter|valve|stent|monitor|monitoring|mask|"
    r"airway|stand|cautery|electrocautery|pump|protein|virus|fever|purpura|gangrene|lesions?|tear|ileus|loop|arch|"
    r"artery|vein|plexus|foramen|fissure|fibers|bundle|waves?|effect|curve|sequence|anastomosis|resection|bypass|"
    r"jelly|ampulla|sphincter|capsule|tendon|joint|toe|finger|elbow|knee|nails?|facies|habitus|type|variant|class|"
    r"level|units?|view|projection|film|tray|dissection|hemorrhage|infarct|infarction|encephalopathy|psychosis|"
    r"neuropathy|pupil|spectrum|coma"
)
_HEAD = re.compile(r"(?:" + _HEADS + r")")
_EPONYM_FOLLOWS = re.compile(
    r"(?:['’]s|s['’]|['’])?(?:[ \t]+(?:and|or|&)[ \t]+[A-Z][\w'’-]+)?(?:[ \t-]+[A-Z](?:[a-z]+)?){0,2}[ \t-]+"
    r"(?i:(?:"
    + _HEADS
    + r")\b|[a-z]+(?:itis|osis|oma|omas|pathy|emia|plasia|trophy|algia|ectomy|otomy|ostomy|plasty|scopy|graphy|gram|plication)\b)"
)

_LABELS = (
    r"patient(?:['’]s)?\s+name|name|patient|pt|attending(?:\s+(?:physician|surgeon|md))?|resident|fellow|intern|surgeon|"
    r"assistant(?:\s+surgeon)?|co-?surgeon|anesthesiologist|anesthetist|pcp|primary\s+care(?:\s+(?:physician|provider|doctor))?|"
    r"referring(?:\s+(?:physician|provider|doctor))?|provider|physician|nurse|rn|author|dictated\s+by|dictating|"
    r"transcribed\s+by|transcriptionist|(?:electronically\s+)?signed(?:\s+by)?|reviewed\s+by|co-?signed\s+by|verified\s+by|"
    r"approved\s+by|interpreted\s+by|performed\s+by|ordered\s+by|attn|consultant|consulting\s+physician|"
    r"emergency\s+contact|contact|next\s+of\s+kin|nok|guardian|(?:health\s*care\s+)?proxy|poa|caregiver|spouse|"
    r"mother|father|son|daughter|wife|husband|sister|brother|informant|historian|source|interpreter|chaplain|"
    r"social\s+worker|case\s+manager|therapist|pharmacist|dietitian|midwife|doula|scribe|witness"
)
_RELATIONS = (
    r"son|daughter|wife|husband|spouse|partner|mother|father|mom|dad|brother|sister|sibling|aunt|uncle|niece|nephew|"
    r"cousin|grandson|granddaughter|grandmother|grandfather|grandma|grandpa|fianc[ée]e?|boyfriend|girlfriend|friend|"
    r"neighbou?r|caregiver|guardian|roommate|stepson|stepdaughter|stepmother|stepfather|step-son|step-daughter|sponsor|"
    r"companion|twin|godmother|godfather|landlord|employer|coworker|co-worker|colleague|emergency\s+contact|nurse"
)

TITLE_CUE = re.compile(rf"\b{TITLE}[ \t]+(?P<n>{SEQ}|[A-Z]\b)")
LABEL_CUE = re.compile(rf"(?i:\b(?:{_LABELS}))(?:[ \t]*:|[ \t]+is\b)[ \t]*(?:{TITLE}[ \t]+)?(?P<n>{LAST_FIRST}|{SEQ}|{CAPS_SEQ})")
BY_CUE = re.compile(
    r"(?i:\b(?:seen|evaluated|examined|referred|reviewed|signed|dictated|transcribed|performed|attended|accompanied|"
    r"interpreted|read|followed|treated|managed|covered|admitted|discharged|assisted|supervised|authored|prepared|"
    r"entered|written|visited|brought|driven|staffed|cosigned|co-signed|consented|witnessed|counseled|counselled)"
    r"(?:\s+(?:today|here|again|in\s+clinic|in\s+the\s+office))?\s+by)[ \t]+(?:" + TITLE + r"[ \t]+)?(?P<n>" + SEQ + r")"
)
WITH_CUE = re.compile(
    r"(?i:\b(?:discussed|spoke|spoken|talked|consulted|met|conferred|communicated|reviewed|called|phoned|texted|"
    r"emailed|contacted|paged|notified|informed|updated|care\s+coordinated|follow(?:\s+|-)?up|followup|message\s+(?:left\s+)?for|"
    r"voicemail\s+(?:left\s+)?for|lives|living|stays|staying|resides|left\s+(?:a\s+)?(?:message|voicemail)\s+(?:for|with))(?:\s+(?:this|the\s+case|the\s+plan|findings))?"
    r"(?:\s+(?:with|to))?)[ \t]+(?:" + TITLE + r"[ \t]+)?(?P<n>" + SEQ + r")"
)
RELATION_CUE = re.compile(
    r"(?i:\b(?:"
    + _RELATIONS
    + r"))(?:(?i:['’]s\s+name\s+is|\s+named|\s+called)|[ \t]*,)?[ \t]+(?:"
    + TITLE
    + r"[ \t]+)?(?P<n>"
    + SEQ
    + r")"
)
CREDENTIAL_CUE = re.compile(rf"(?P<n>{SEQ}),?[ \t]+{_PROFESSIONAL}(?![\w-])")
AGE_CUE = re.compile(
    rf"(?P<n>{SEQ})[ \t]*,?\s*(?:(?:is|was)\s+)?an?\s+\d{{1,3}}[- ]?(?:(?:year|yr|month|week|day)s?[- ]old|y/?o\b|yo\b)"
)
PATIENT_CUE = re.compile(rf"(?i:\b(?:patient|pt\.?|client|resident|veteran))[ \t]*,?[ \t]+(?P<n>{SEQ})")
SYNTHEA = re.compile(r"\b[A-Z][a-z]+\d{2,4}\b(?:[ \t]+(?:[A-Z][a-z]+\d{0,4}\b|[A-Z]\.))*")
PAIR = re.compile(rf"(?P<n>{WORD}(?:[ \t]+{INITIAL})?(?:[ \t]+{WORD}){{1,2}})")
LAST_COMMA_FIRST = re.compile(rf"\b(?P<last>{WORD}),[ \t]*(?P<first>{WORD})(?![ \t]*[A-Za-z])")
LONE_LINE = re.compile(rf"(?m)^[ \t]*(?P<n>{WORD}(?:[ \t]+{WORD}){{0,2}})[ \t]*$")
TOKEN = re.compile(rf"{WORD}|[A-Z][A-Z'’-]+|[A-Z]\.?")


@dataclass(frozen=True)
class NameSpan:
    start: int
    end: int
    strong: bool


def eponym_follows(text: str, end: int) -> bool:
    return _EPONYM_FOLLOWS.match(text, end) is not None


def find(text: str) -> list[NameSpan]:
    found: list[NameSpan] = []
    # After a title anything capitalised is a name; after a label or a relation ('Attending: Collins, Patrick',
    # 'husband Patrick') a listed name will do; after 'seen by' / 'discussed with' a lone word must be listed.
    cues = [(TITLE_CUE, "any"), (LABEL_CUE, "listed"), (RELATION_CUE, "listed"), (CREDENTIAL_CUE, "name-like")]
    cues += [(AGE_CUE, "name-like"), (BY_CUE, "careful"), (WITH_CUE, "careful"), (PATIENT_CUE, "careful")]
    for pattern, evidence in cues:
        for match in pattern.finditer(text):
            found.extend(_accept(text, match, evidence=evidence))
    for match in SYNTHEA.finditer(text):  # Synthea's 'Alva958 Dickinson688': listed names with digits
        if _listed(match.group(0).split()[0]):
            found.append(NameSpan(match.start(), match.end(), True))
    for match in PAIR.finditer(text):
        found.extend(_pair(text, match))
    for match in LONE_LINE.finditer(text):
        found.extend(_lone(text, match))
    for match in LAST_COMMA_FIRST.finditer(text):
        last, first = _bare(match["last"]), _bare(match["first"])
        if lists.is_first_name(first) and lists.is_last_name(last) and not lists.is_ordinary(last) and _name_like(first):
            if last not in lists.clinical_terms() and first not in lists.STOPWORDS:
                found.append(NameSpan(match.start(), match.end(), False))
    return found


def _tokens(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    return [(start + m.start(), start + m.end(), m.group(0)) for m in TOKEN.finditer(text[start:end])]


def _bare(token: str) -> str:
    bare = token.rstrip("0123456789").rstrip(".,").removesuffix("'s").removesuffix("’s")
    return bare.title() if bare.isupper() and len(bare) > 2 else bare


def _trimmed(tokens: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Drop words that cannot be a name from either end ('Patient', 'The', 'Cardiology', 'MD')."""
    while tokens and _not_a_name(tokens[0][2]):
        tokens = tokens[1:]
    while tokens and _not_a_name(tokens[-1][2]):
        tokens = tokens[:-1]
    cut = next((i for i, t in enumerate(tokens) if _not_a_name(t[2])), len(tokens))
    # after the first word, only words that could be names ('Dr. X. Cultures are pending' keeps 'X')
    more = next((i for i, t in enumerate(tokens[1:cut], 1) if not (_name_like(t[2]) or _listed(t[2]) or _initial(t[2]))), cut)
    return tokens[:more]


def _initial(token: str) -> bool:
    return re.fullmatch(r"[A-Z]\.?", token) is not None


def _listed(token: str) -> bool:
    bare = _bare(token)
    return lists.is_first_name(bare) or lists.is_last_name(bare)


def _not_a_name(token: str) -> bool:
    bare = _bare(token)
    return (
        bare in lists.STOPWORDS
        or bare.title() in lists.STOPWORDS
        and token.isupper()
        or re.fullmatch(_CREDENTIALS, bare) is not None
    )


def _name_like(token: str) -> bool:
    """A word that reads as a name without help: a first name, an uncommon surname, or an unknown capitalised word."""
    bare = _bare(token)
    if len(bare) < 2 or bare in lists.clinical_terms():  # 'Patrick', 'Todd': eponyms, and first names too
        return len(bare) >= 2 and (token[-1:].isdigit() or lists.is_first_name(bare))
    if token[-1:].isdigit() or lists.is_first_name(bare):
        return True
    return not lists.is_ordinary(bare)


def _accept(text: str, match: re.Match[str], *, evidence: str) -> Iterator[NameSpan]:
    tokens = _trimmed(_tokens(text, match.start("n"), match.end("n")))
    if not tokens or eponym_follows(text, tokens[-1][1]):
        return
    name_like = [_name_like(t[2]) for t in tokens]
    listed = [lists.is_first_name(_bare(t[2])) or lists.is_last_name(_bare(t[2])) for t in tokens]
    if evidence == "listed" and not any(name_like + listed):
        return
    if evidence in ("name-like", "careful") and not any(name_like):
        return
    if evidence == "careful" and len(tokens) == 1 and not listed[0]:
        return
    yield NameSpan(tokens[0][0], tokens[-1][1], True)


# First names that are also everyday words: with an everyday word after them ('Grace Brown', 'Will Long') list
# evidence is not enough.
COMMON_FIRST = frozenset(
    """May Will Mark Bill Grace Hope Faith Joy Rose Dawn Art Pat Sue Don Guy Bob Rob Jack Frank Gene Ray Sandy Rusty Iris
    Daisy Holly Ivy Ruby Pearl Amber Crystal Summer Autumn April June August Chase Grant King Major
    Page Price Rich Young Long Short Small Sharp Strong Love Best Early Judge Bliss Cherry Coral Golden Honey Angel Lady
    Baby Sterling Van Lane Dean Dale Glen Ford Clay Cliff Heath Forest Stone Wade Reed Gray Brown White Green Black Tiny
    Precious Unique Royal Sunny Son See Else Star Sky Rain River Storm Ward Hall Field Bell Cross""".split()
)


def _pair(text: str, match: re.Match[str]) -> Iterator[NameSpan]:
    """'Alan Turing', 'Connor Adams': a first name (or an uncommon surname) then a surname or an unknown word."""
    tokens = [t for t in _tokens(text, match.start("n"), match.end("n")) if len(_bare(t[2])) > 1]
    for i in range(len(tokens) - 1):
        for j in range(len(tokens), i + 1, -1):
            if _is_pair(text, tokens[i:j]):
                yield NameSpan(tokens[i][0], tokens[j - 1][1], False)
                return


def _is_pair(text: str, tokens: list[tuple[int, int, str]]) -> bool:
    words = [_bare(t[2]) for t in tokens]
    first, last = words[0], words[-1]
    if len(first) < 3 or any(w in lists.STOPWORDS for w in words) or eponym_follows(text, tokens[-1][1]):
        return False
    opener = lists.is_first_name(first) or (lists.is_last_name(first) and not lists.is_ordinary(first))
    closer = (lists.is_last_name(last) and not (first in COMMON_FIRST and lists.is_ordinary(last))) or not lists.is_ordinary(last)
    # eponyms in use were ruled out by the head noun after them ('Austin Flint murmur'); a head noun inside the
    # words ('Glasgow Coma Scale') or an eponym that is no first name in front ('Glasgow ...') makes a term
    if first in lists.clinical_terms() and not lists.is_first_name(first) or any(_HEAD.fullmatch(w.lower()) for w in words[1:]):
        return False
    return opener and closer


def _lone(text: str, match: re.Match[str]) -> Iterator[NameSpan]:
    """A line that holds only a name ('Gregg', 'Jane Doe' above a signature)."""
    tokens = _tokens(text, match.start("n"), match.end("n"))
    words = [_bare(t[2]) for t in tokens]
    if any(w in lists.STOPWORDS or w in lists.clinical_terms() for w in words):
        return
    listed = all(lists.is_first_name(w) or lists.is_last_name(w) for w in words)
    if listed and (lists.is_first_name(words[0]) or not lists.is_ordinary(words[0])):
        yield NameSpan(tokens[0][0], tokens[-1][1], False)
    elif len(words) == 1 and len(words[0]) > 2 and not lists.is_ordinary(words[0]):
        yield NameSpan(tokens[0][0], tokens[-1][1], False)  # 'Jayden' alone on its line: no word, no term, a name


def spread(text: str, spans: Iterable[NameSpan], known: Iterable[str] = ()) -> Iterator[NameSpan]:
    """Every other place in the note where a name found once (or known from the record) appears again."""
    words = {text[t[0] : t[1]] for s in spans for t in _tokens(text, s.start, s.end)}
    words = {_bare(w) for w in words} | {w for w in words if w[-1:].isdigit()}
    candidates = {w for w in words if len(w) > 2 and not lists.is_ordinary(w) and w not in lists.clinical_terms()}
    candidates -= lists.STOPWORDS
    known_words = {_bare(w) for w in known if len(_bare(w)) > 1}
    for word, strong in [(w, False) for w in candidates - known_words] + [(w, True) for w in known_words]:
        for form in {word, word.upper()}:
            for match in re.finditer(
                rf"(?<![\w'’-]){re.escape(form)}\d*(?![\w'’-]|['’]s\b)|(?<![\w'’-]){re.escape(form)}(?=['’]s\b)", text
            ):
                if not eponym_follows(text, match.end()):
                    yield NameSpan(match.start(), match.end(), strong)
