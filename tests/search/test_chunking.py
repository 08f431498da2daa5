from __future__ import annotations

from search.chunking import MAX_WORDS, chunk_text
from search.negation import term_context, text_context


def test_it_keeps_headings_with_their_text():
    text = "HPI: 54 yo with chest pain.\nAssessment: likely angina.\nPlan: stress test."
    chunks = chunk_text(text)
    assert [c.section for c in chunks] == ["HPI", "Assessment", "Plan"]
    assert chunks[1].text == "Assessment: likely angina."


def test_it_splits_long_sections_on_sentences_under_the_model_window():
    text = "Summary: " + " ".join(f"Sentence number {i} is here." for i in range(200))
    chunks = chunk_text(text)
    assert len(chunks) > 1
    assert all(len(c.text.split()) <= MAX_WORDS + 1 for c in chunks)
    assert all(c.section == "Summary" for c in chunks)


def test_it_ends_chunks_only_where_sentences_end():
    sentence = "Seen by Dr. Grey at 8 a.m. on 2.5 mg. daily, e.g. with food, vs. placebo in trial No. 5 of the ward."
    chunks = chunk_text("Summary: " + " ".join([sentence] * 30))
    assert len(chunks) > 1
    assert all(c.text.endswith("of the ward.") for c in chunks)


def test_it_reads_negation_within_sentences_that_abbreviations_and_decimals_do_not_cut():
    assert term_context("Patient denies taking 2.5 mg of aspirin.", ["aspirin"]).negated
    assert term_context("Seen by Dr. Grey, who found no pneumonia.", ["pneumonia"]).negated
    assert term_context("Pneumonia vs. bronchitis.", ["bronchitis"]).uncertain
    assert not term_context("No fever; cough since Monday.", ["cough"]).negated
    assert not term_context("ROS:\nno fever\ncough present", ["cough"]).negated


def test_it_tags_negation_uncertainty_and_family():
    assert term_context("Patient denies chest pain.", ["chest", "pain"]).negated
    assert not term_context("Chest pain since morning, no fever.", ["chest", "pain"]).negated
    assert term_context("Rule out pneumonia.", ["pneumonia"]).uncertain
    assert term_context("Mother had breast cancer.", ["breast", "cancer"]).other_subject
    assert not term_context("No fever but reports cough.", ["cough"]).negated
    assert term_context("Heart sounds normal.", ["pneumonia"]) is None
    assert text_context("Denies chest pain.").negated


def test_the_trigger_prefilter_never_skips_a_sentence_the_rules_would_match():
    from search.negation import _FIRST_WORDS, _UNANCHORED, _may_trigger, _rule_spans

    phrases = sorted(_FIRST_WORDS) + list(_UNANCHORED) + ["r/o", "vs.", "No signs of", "FH:", "cannot be excluded"]
    sentences = [
        f"{left}{phrase}{right}"
        for phrase in phrases
        for left, right in (("", ""), ("Pt ", " fever"), ("x", "y"), ("(", ")"), ("2", " "), ("ABC ", "."))
    ]
    sentences += [s.upper() for s in sentences] + ["Heart sounds normal.", "Chest pain since morning", "thesis possible"]
    for sentence in sentences:
        assert _may_trigger(sentence) or not _rule_spans(sentence), sentence
    assert not _may_trigger("Heart sounds normal, chest clear, abdomen soft.")
