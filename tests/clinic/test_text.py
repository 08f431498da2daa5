"""clinic.text.sentences: the one sentence splitter, on the cases that broke the four it replaced."""

from __future__ import annotations

import pytest

from clinic.text import sentences


def texts(text: str) -> list[str]:
    return [s.text for s in sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Seen by Dr. Smith today. Mr. Jones called.", ["Seen by Dr. Smith today.", "Mr. Jones called."]),
        (
            "Start a statin, e.g. atorvastatin. Avoid NSAIDs, i.e. ibuprofen.",
            ["Start a statin, e.g. atorvastatin.", "Avoid NSAIDs, i.e. ibuprofen."],
        ),
        ("Pneumonia vs. bronchitis. Will treat.", ["Pneumonia vs. bronchitis.", "Will treat."]),
        ("HbA1c 5.6 % on 2.5 mg daily. Repeat in 3 months.", ["HbA1c 5.6 % on 2.5 mg daily.", "Repeat in 3 months."]),
        ("Took 5 mg. daily for a week. Then stopped.", ["Took 5 mg. daily for a week.", "Then stopped."]),
        ("Took 10 mg. Then slept.", ["Took 10 mg.", "Then slept."]),
        (
            "Arrived at 8 a.m. and left at 5 p.m. The pain had resolved.",
            ["Arrived at 8 a.m. and left at 5 p.m.", "The pain had resolved."],
        ),
        ("Metformin 500 mg p.o. b.i.d. Lisinopril 10 mg daily.", ["Metformin 500 mg p.o. b.i.d.", "Lisinopril 10 mg daily."]),
        ("Bed No. 5 on ward 3. Smoking: No. Alcohol: yes.", ["Bed No. 5 on ward 3.", "Smoking: No.", "Alcohol: yes."]),
        ("Temp 98.6. Pulse 80!  Fever? Unlikely.", ["Temp 98.6.", "Pulse 80!", "Fever?", "Unlikely."]),
        ("Plan: 1. Continue metformin. 2. Start lisinopril.", ["Plan: 1. Continue metformin.", "2. Start lisinopril."]),
        (
            "Plan:\n1. Continue metformin\n2. Start lisinopril\n- recheck BP",
            ["Plan:", "1. Continue metformin", "2. Start lisinopril", "- recheck BP"],
        ),
        (
            "# Chief Complaint\nCough.\n\n# Assessment\nPatient denies chest pain.",
            ["# Chief Complaint", "Cough.", "# Assessment", "Patient denies chest pain."],
        ),
        ("BP 120/80\nHR 72\nChief Complaint: cough", ["BP 120/80", "HR 72", "Chief Complaint: cough"]),
        ("ROS:\nno fever\ncough present", ["ROS:", "no fever", "cough present"]),
        ('She said "no more." Then left.', ['She said "no more."', "Then left."]),
        ("The latest HbA1c is 6.7 % [1]. I also like tea.", ["The latest HbA1c is 6.7 % [1].", "I also like tea."]),
        (
            "BP was 140/90. [2][3] Metformin was started [4] It worked.",
            ["BP was 140/90. [2][3]", "Metformin was started [4]", "It worked."],
        ),
        ("  \n\n ", []),
        ("No full stop at the end", ["No full stop at the end"]),
    ],
)
def test_it_splits_hard_cases(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


def test_it_gives_offsets_into_the_text() -> None:
    text = "  Dr. Who came.\n\nHe left at 5 p.m. Nobody saw him.  "
    found = sentences(text)
    assert [s.text for s in found] == ["Dr. Who came.", "He left at 5 p.m.", "Nobody saw him."]
    assert all(text[s.start : s.end] == s.text for s in found)
    assert [s.start for s in found] == [2, 17, 35]
