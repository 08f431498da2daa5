"""Generated answers and edited drafts are cut into sentences by clinic.text, as chunks and negation scopes are."""

from __future__ import annotations

from agents import agent, services
from agents.models import Draft
from clinic import models as m
from clinic.access import Actor

HARD = ["Seen by Dr. Grey at 8 a.m. on 2024-03-01.", "HbA1c 6.7 % on 2.5 mg. daily, e.g. with breakfast.", "No. 5 bed."]


def test_it_cites_each_sentence_of_a_reply_with_abbreviations_and_markers():
    facts = [{"citations": [{"source_type": "observation", "source_id": n}]} for n in (1, 2)]
    reply = "Seen by Dr. Grey at 8 a.m. today [1]. HbA1c 6.7 % on 2.5 mg. daily. [2] Nothing else"
    cited = agent.cite_sentences(reply, facts)
    assert [(s["text"], [c["source_id"] for c in s["citations"]]) for s in cited] == [
        ("Seen by Dr. Grey at 8 a.m. today.", [1]),
        ("HbA1c 6.7 % on 2.5 mg. daily.", [2]),
        ("Nothing else", []),
    ]


def test_it_keeps_the_citations_of_every_sentence_an_edit_leaves_alone(ada, clinician):
    observation = m.Observation.objects.filter(patient=ada).first()
    cite = {"source_type": "observation", "source_id": observation.pk, "label": observation.display}
    draft = Draft.objects.create(
        patient=ada, kind="progress_note", status=Draft.Status.READY, created_by=clinician,
        sections=[{"title": "Course", "sentences": [{"text": text, "citations": [cite]} for text in HARD]}],
    )  # fmt: skip
    texts = [" ".join(HARD) + "\nFeels better today."]
    edited = services.section_text_edit(actor=Actor(user=clinician, channel="web"), draft=draft, texts=texts)
    sentences = edited.sections[0]["sentences"]
    assert [s["text"] for s in sentences] == [*HARD, "Feels better today."]
    assert all(s["citations"] == [cite] for s in sentences[:3]) and sentences[3]["citations"] == []
