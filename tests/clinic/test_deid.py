"""De-identification engine: every PHI form leaves, clinical words stay, dates keep their intervals, and the
deidentify command answers bad input with the file and line."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from clinic.deid import Deidentifier
from clinic.services import fhir_import_bytes
from tests.clinic.deid_eval.scoring import score
from tests.clinic.fhir_factory import bundle, dumps

OWN_SET = Path(__file__).resolve().parent / "deid_eval" / "notes.jsonl"
SHARED_DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "deid" / "dev.jsonl"


def deid(text: str, key: str = "patient-1") -> str:
    return Deidentifier(secret="test-secret", patient_key=key).text(text)


@pytest.mark.parametrize(
    ("text", "phi"),
    [
        ("Discussed with Dr. Alan Turing today.", ["Alan", "Turing"]),
        ("Electronically signed by: Grace Hopper, MD", ["Grace", "Hopper"]),
        ("Attending: Lovelace, Ada", ["Lovelace", "Ada"]),
        ("Patient: Charles Babbage", ["Charles", "Babbage"]),
        ("Her daughter Margarethe will visit.", ["Margarethe"]),
        ("Her husband, Pierre Curie, called.", ["Pierre", "Curie"]),
        ("cc: Edsger Dijkstra, RN", ["Edsger", "Dijkstra"]),
        ("Alva958 Dickinson688 was seen.", ["Alva958", "Dickinson688"]),
        ("# History of Present Illness\nGregg\n is a 63 year-old male.", ["Gregg"]),
        ("NAME: HOPPER, GRACE", ["HOPPER", "GRACE"]),
        ("# History of Present Illness\nJayden\nMRN 1234567", ["Jayden"]),
        (
            "Called Daniel Ross with results; sister-in-law Dwayne Willis helps; follow up with Amber Byrd.",
            ["Ross", "Willis", "Byrd"],
        ),
        ("Seen on March 3, 2021 and 3/4/21.", ["March 3, 2021", "3/4/21"]),
        (
            "Labs 2021-03-04T10:00:00Z, Tuesday, March 2, 2021, Mar 3rd, 03/2021, March 2021.",
            ["2021-03-04", "March 2, 2021", "Mar 3rd", "03/2021", "March 2021"],
        ),
        (
            "Surgery 03-MAR-2021, seen the 3rd of March, 2021, on 4 March 2021, DOB 12-8-1930.",
            ["03-MAR-2021", "3rd of March", "4 March 2021", "12-8-1930"],
        ),
        ("A 93-year-old woman, age 101, 95 y/o, ninety-two years old.", ["93", "101", "95", "ninety-two"]),
        (
            "Call (617) 555-0101 ext. 12, 617.555.0102, +1 617 555 0103 or 6175550104; fax 617-555-0105.",
            ["555-0101", "555.0102", "555 0103", "6175550104", "555-0105"],
        ),
        ("SSN 123-45-6789, ssn 123 45 6780, social security number 123456781.", ["6789", "6780", "123456781"]),
        (
            "MRN: 4636632. Account #G736911. Member ID W123456789. Device serial number SN-4451-9982.",
            ["4636632", "G736911", "W123456789", "4451-9982"],
        ),
        ("Lives at 12 elm street, Cambridge MA 02139-1234.", ["12 elm street", "Cambridge", "02139"]),
        (
            "Home: 91390 Williams Forges Apt. 824, Thomasville, MA 75331. PO Box 77.",
            ["91390", "Williams", "Thomasville", "75331", "Box 77"],
        ),
        ("She moved here from Springfield, Illinois; transferred from Hunt Memorial Hospital.", ["Springfield", "Hunt Memorial"]),
        (
            "Email ada@example.org, portal https://portal.example.org/p/1, www.example.com, from 10.1.2.3 and 2001:db8::1.",
            ["ada@", "portal.example", "www.example", "10.1.2.3", "2001:db8"],
        ),
    ],
)
def test_it_removes_each_form_of_phi(text, phi):
    out = deid(text)
    for value in phi:
        assert value not in out, f"{value!r} survived in {out!r}"


@pytest.mark.parametrize(
    "trap",
    [
        "History of Parkinson disease on carbidopa-levodopa.",
        "Hodgkin lymphoma in remission.",
        "Apgar scores were 8 and 9.",
        "A Foley catheter was placed.",
        "Babinski sign absent; Graves disease on methimazole.",
        "Crohn's disease and Bell's palsy.",
        "Glasgow Coma Scale 15. Down syndrome.",
        "May continue current dose.",
        "Will follow up in two weeks.",
        "Lasix 40 mg and Coumadin; Tylenol as needed.",
        "Austin Flint murmur; Ramsay Hunt syndrome; Bence Jones protein.",
        "Strength 5/5, takes 3/4 tablet, BP 120/80, pain 6/10.",
    ],
)
def test_it_keeps_clinical_words(trap):
    assert deid(trap) == trap


def test_it_shifts_dates_by_one_offset_per_patient_keeping_format_and_intervals():
    deidentifier = Deidentifier(secret="s", patient_key="p1")
    out = deidentifier.text("Admitted 2021-03-04, discharged 2021-03-09; seen again March 3, 2021.")
    first, second = (dt.date.fromisoformat(d) for d in re.findall(r"\d{4}-\d\d-\d\d", out))
    assert (second - first).days == 5 and first == dt.date(2021, 3, 4) + deidentifier.offset
    assert re.search(r"seen again [A-Z][a-z]+ \d{1,2}, 202[01]\.", out)
    assert deidentifier.text("March 3, 2021") == Deidentifier(secret="s", patient_key="p1").text("March 3, 2021")


def test_it_reduces_zip_codes_and_blanks_the_small_areas():
    assert "021XX" in deid("Cambridge, MA 02139")
    assert "000XX" in deid("Hanover, NH 03601") and "036" not in deid("Hanover, NH 03601")


def test_it_reports_spans_in_the_input_text():
    text = "Dr. Alan Turing, MRN 4636632, seen 3/4/21."
    spans = Deidentifier(secret="s", patient_key="k").spans(text)
    assert {(text[s.start : s.end], s.type) for s in spans} == {("Alan Turing", "NAME"), ("4636632", "ID"), ("3/4/21", "DATE")}


def test_it_uses_what_the_record_knows():
    deidentifier = Deidentifier(secret="s", patient_key="k", names=["Zyx Qwerty"], identifiers=["AB-77"], places=["Smalltown"])
    out = deidentifier.text("qwerty review: Zyx came from Smalltown, ref AB-77.")
    assert "Zyx" not in out and "Smalltown" not in out and "AB-77" not in out


def test_it_finds_phi_in_every_form_of_its_own_evaluation_set():
    notes = [json.loads(line) for line in OWN_SET.read_text().splitlines()]
    result = score(notes, deid)
    assert result.recall() >= 0.99, result.examples
    for kind in result.total:
        assert result.recall(kind) >= 0.97, kind
    assert result.kept >= 0.97


@pytest.mark.shared_data
def test_it_passes_the_shared_dev_set():
    if not SHARED_DEV.exists():
        pytest.skip("../shared/data is absent")
    notes = [json.loads(line) for line in SHARED_DEV.read_text().splitlines()]
    result = score(notes, deid)
    assert result.recall() >= 0.99 and result.recall("NAME") >= 0.97 and result.recall("DATE") >= 0.97
    assert result.kept >= 0.97


def test_it_deidentifies_a_file_from_the_command_line(tmp_path):
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps({"id": "n1", "text": "Mr. Turing, MRN 4636632, seen 3/4/21."}) + "\n")
    call_command("deidentify", str(source), "--out", str(target))
    line = json.loads(target.read_text())
    assert line["id"] == "n1" and "Turing" not in line["text"] and "4636632" not in line["text"]
    assert {s["type"] for s in line["spans"]} == {"NAME", "ID", "DATE"}


@pytest.mark.parametrize(
    ("line", "message"),
    [("not json", "not JSON"), (json.dumps({"id": "x"}), "text"), (json.dumps(["a"]), "object")],
)
def test_it_names_the_file_and_line_of_bad_input_and_writes_nothing(tmp_path, line, message):
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps({"id": "ok", "text": "fine"}) + "\n" + line + "\n")
    with pytest.raises(CommandError, match=rf"in.jsonl, line 2: .*{message}"):
        call_command("deidentify", str(source), "--out", str(target))
    assert not target.exists() and list(tmp_path.iterdir()) == [source]


@pytest.mark.django_db
def test_it_removes_the_identifiers_the_record_knows_for_a_patient(tmp_path):
    doc = bundle()
    patient = doc["entry"][0]["resource"]
    patient["address"] = [{"line": ["77 Quirkly Lane"], "city": "Zanzibarton", "postalCode": "01234"}]
    note = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    note["content"][0]["attachment"]["data"] = base64.b64encode(b"note").decode()
    fhir_import_bytes(name="p.json", data=dumps(doc))
    mrn, family = patient["identifier"][0]["value"], patient["name"][0]["family"]
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    text = f"{family} ({mrn}) lives near Zanzibarton at 77 Quirkly Lane."
    source.write_text(json.dumps({"id": 1, "text": text, "patient": patient["id"]}) + "\n")
    call_command("deidentify", str(source), "--out", str(target))
    out = json.loads(target.read_text())["text"]
    assert family not in out and mrn not in out and "Zanzibarton" not in out and "Quirkly" not in out
    source.write_text(json.dumps({"id": 1, "text": text, "patient": "nobody"}) + "\n")
    with pytest.raises(CommandError, match="line 1: no patient with FHIR id 'nobody'"):
        call_command("deidentify", str(source), "--out", str(target))


def test_it_refuses_to_start_without_deid_secret_when_debug_is_off():
    env = {k: v for k, v in os.environ.items() if k != "DEID_SECRET"} | {"DEBUG": "false", "SECRET_KEY": "x" * 50}
    code = "import carebase.settings"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2]
    )
    assert done.returncode != 0 and "DEID_SECRET" in done.stderr
