"""One patient's part of a dataset: de-identified records shaped for the purpose, DICOM files and variants.

Every string taken from the chart or from a registered provider goes through the patient's Deidentifier (the one
engine, keyed by the dataset's secret), except codes and their displays, which the residual PHI check reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from clinic import models as m
from clinic.curation.checks import is_template_only, known_identifiers_in
from clinic.curation.define import CHART_KINDS
from clinic.curation.dicom import DicomDeidentifier, burned_in_reason, text_values
from clinic.curation.registry import Example, registered_content
from clinic.deid import age_band, deidentifier_for
from clinic.deid.engine import RESTRICTED_ZIP3

FORMAT_VERSION = 2
SYSTEM_PROMPT = (
    "You are a clinical assistant working from a de-identified patient chart. Write what is asked, from the chart "
    "only; when you answer a question, cite the chart entries you used."
)
CONTEXT_LABS = 10  # the latest results given as context in a prompt


class BuildFailed(Exception):
    """A dataset cannot be released as asked; the message says why (never a PHI value)."""


def zip3(patient: m.Patient) -> str:
    for address in (patient.raw or {}).get("address") or []:
        digits = "".join(ch for ch in str(address.get("postalCode") or "") if ch.isdigit())
        if len(digits) >= 3:
            return "000" if digits[:3] in RESTRICTED_ZIP3 else digits[:3]
    return "unknown"


def quasi_identifiers(patient: m.Patient) -> tuple[str, str, str]:
    return age_band(patient.age()), patient.sex or "unknown", zip3(patient)


@dataclass
class Image:
    uid: str
    data: bytes
    meta: dict[str, Any]


@dataclass
class PatientPart:
    records: list[dict[str, Any]] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    flagged: list[dict[str, str]] = field(default_factory=list)
    variants: list[dict[str, Any]] = field(default_factory=list)
    phi: Counter[str] = field(default_factory=Counter)
    dicom: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    sources: list[str] = field(default_factory=list)  # source rows read, for the card's source hash


@dataclass
class _Doc:
    kind: str
    at: dt.datetime | None
    title: str
    text: str


class PatientBuilder:
    def __init__(self, dataset: m.Dataset, patient: m.Patient, secret: str) -> None:
        self.dataset, self.patient, self.secret = dataset, patient, secret
        self.deid = deidentifier_for(patient=patient, secret=secret)
        self.part = PatientPart()
        self.base = {"patient": self.deid.pseudonym, "sex": patient.sex or "unknown", "age_band": age_band(patient.age()),
                     "format": FORMAT_VERSION}  # fmt: skip

    def build(self) -> PatientPart:
        content, purpose, P = self.dataset.content, self.dataset.purpose, m.Dataset.Purpose
        chart_rows = self._chart_rows()
        docs = self._documents()
        examples = self._examples()
        chart = self._chart(chart_rows, None)
        if purpose == P.PRETRAINING:
            self._records_pretraining(docs, examples, chart)
        elif purpose == P.FINETUNING:
            targets = [(d.text, d.title) for d in docs] + [(ex.response, ex.title) for _, ex in examples]
            for target, title in targets:
                self.part.records.append({**self.base, "kind": "pair", "input": chart, "target": target, "target_title": title})
        elif purpose == P.INSTRUCTION:
            self._records_instruction(docs, examples, chart_rows)
        elif purpose == P.PREFERENCE:
            self._records_preference(examples, chart_rows)
        else:
            notes = [{"date": self._day(d.at), "title": d.title, "text": d.text} for d in docs]
            self.part.records.append({**self.base, "kind": "chart", **chart, **({"notes": notes} if notes else {})})
        if "imaging" in content:
            self._images()
        if "variants" in content:
            self._variants()
        return self.part

    # -- helpers ---------------------------------------------------------------------------------------------

    def _clean(self, text: str) -> str:
        cleaned, spans = self.deid.deidentify(text or "")
        self.part.phi.update(span.type for span in spans)
        return cleaned

    def _day(self, value: dt.datetime | None) -> str | None:
        shifted = self.deid.shift(value)
        return shifted.date().isoformat() if isinstance(shifted, dt.datetime) else None

    def _source(self, row: Any, text: str = "") -> None:
        digest = getattr(row, "content_hash", "") or hashlib.sha256(text.encode()).hexdigest()
        self.part.sources.append(f"{row._meta.label}:{row.pk}:{digest}")

    # -- documents and examples ------------------------------------------------------------------------------

    def _documents(self) -> list[_Doc]:
        content, docs = self.dataset.content, []
        notes = m.ClinicalNote.objects.filter(patient=self.patient).order_by("date", "id")
        wanted = [("notes", notes), ("signed_notes", notes.filter(author_user__isnull=False))]
        for kind, rows in wanted:
            if kind in content:
                docs += [self._doc(kind.rstrip("s"), note, note.date, note.title, note.text) for note in rows]
        if "reports" in content:
            reports = m.DiagnosticReport.objects.filter(patient=self.patient).order_by("effective", "id")
            for report in reports:
                text = "\n".join(t for t in (report.conclusion, report.text) if t.strip())
                docs.append(self._doc("report", report, report.effective, report.display or "Report", text))
        return [d for d in docs if d is not None]

    def _doc(self, kind: str, row: Any, at: dt.datetime | None, title: str, text: str) -> _Doc | None:
        self._source(row, text)
        if not text.strip():
            self.part.dropped["empty"] += 1
            return None
        cleaned = self._clean(text)
        if is_template_only(cleaned):
            self.part.dropped["template_only"] += 1
            return None
        return _Doc(kind, at, self._clean(title), cleaned)

    def _examples(self) -> list[tuple[str, Example]]:
        found = []
        for name, kind in registered_content().items():
            if name not in self.dataset.content:
                continue
            for example in kind.provider(self.patient):
                self.part.sources.append(f"{name}:{example.source_key}")
                cleaned = Example(
                    at=example.at, instruction=self._clean(example.instruction), response=self._clean(example.response),
                    rejected=self._clean(example.rejected), title=self._clean(example.title),
                )  # fmt: skip
                if not cleaned.response.strip():
                    self.part.dropped["empty"] += 1
                    continue
                found.append((name, cleaned))
        return found

    def _records_pretraining(self, docs: list[_Doc], examples: list[tuple[str, Example]], chart: dict[str, Any]) -> None:
        for doc in docs:
            self.part.records.append({**self.base, "kind": doc.kind, "date": self._day(doc.at), "title": doc.title,
                                      "text": doc.text})  # fmt: skip
        for name, ex in examples:
            self.part.records.append({**self.base, "kind": name, "date": self._day(ex.at), "title": ex.title,
                                      "text": f"{ex.instruction}\n\n{ex.response}"})  # fmt: skip
        if chart:
            self.part.records.append({**self.base, "kind": "chart", **chart})

    def _prompt(self, instruction: str, rows: dict[str, list[tuple[Any, dt.datetime | None]]], at: dt.datetime | None) -> str:
        context = self._context_text(rows, at)
        return f"{instruction}\n\nChart:\n{context}" if context else instruction

    def _records_instruction(self, docs: list[_Doc], examples: list[tuple[str, Example]], rows: Any) -> None:
        pairs = [(d.kind, f"Write the {d.title or 'note'} for this patient.", d.at, d.text) for d in docs]
        pairs += [(name, ex.instruction, ex.at, ex.response) for name, ex in examples]
        for source, instruction, at, answer in pairs:
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": self._prompt(instruction, rows, at)},
                {"role": "assistant", "content": answer},
            ]
            self.part.records.append({"messages": messages, "patient": self.base["patient"], "source": source,
                                      "format": FORMAT_VERSION})  # fmt: skip

    def _records_preference(self, examples: list[tuple[str, Example]], rows: Any) -> None:
        for name, ex in examples:
            if not ex.rejected.strip() or ex.rejected.strip() == ex.response.strip():
                self.part.dropped["no_preference"] += 1  # signed as generated, or nothing to prefer it to
                continue
            self.part.records.append({"prompt": self._prompt(ex.instruction, rows, ex.at), "chosen": ex.response,
                                      "rejected": ex.rejected, "patient": self.base["patient"], "source": name,
                                      "format": FORMAT_VERSION})  # fmt: skip

    # -- chart -----------------------------------------------------------------------------------------------

    def _chart_rows(self) -> dict[str, list[tuple[Any, dt.datetime | None]]]:
        """The chart's rows by kind with the time each became known (for context as of a date)."""
        p, content, rows = self.patient, self.dataset.content, {}
        queries = {
            "problems": (m.Condition.objects.filter(patient=p).order_by("onset", "id"), "onset"),
            "medications": (m.MedicationRequest.objects.filter(patient=p).order_by("authored_on", "id"), "authored_on"),
            "allergies": (m.AllergyIntolerance.objects.filter(patient=p).order_by("id"), "recorded"),
            "labs": (m.Observation.objects.filter(patient=p).exclude(value=None).order_by("effective", "id"), "effective"),
            "encounters": (m.Encounter.objects.filter(patient=p).order_by("start", "id"), "start"),
        }
        for kind in CHART_KINDS:
            if kind in content:
                query, when = queries[kind]
                rows[kind] = [(row, getattr(row, when)) for row in query]
                for row, _ in rows[kind]:
                    self._source(row)
        return rows

    def _chart(self, rows: dict[str, list[tuple[Any, dt.datetime | None]]], at: dt.datetime | None) -> dict[str, Any]:
        shape = {
            "problems": lambda c: {"code": c.code, "display": c.display, "status": c.clinical_status, "onset": self._day(c.onset)},
            "medications": lambda r: {"code": r.code, "display": r.display, "status": r.status, "start": self._day(r.authored_on)},
            "allergies": lambda a: {"code": a.code, "display": a.display},
            "labs": lambda o: {"code": o.code, "display": o.display, "value": o.value, "unit": o.unit, "flag": o.flag,
                               "date": self._day(o.effective)},
            "encounters": lambda e: {"type": e.type_display, "class": e.class_code, "reason": e.reason_display,
                                     "start": self._day(e.start)},
        }  # fmt: skip
        return {kind: [shape[kind](row) for row, when in found if at is None or when is None or when <= at]
                for kind, found in rows.items()}  # fmt: skip

    def _context_text(self, rows: dict[str, list[tuple[Any, dt.datetime | None]]], at: dt.datetime | None) -> str:
        """The chart as of `at`, as lines a model reads (only the chart kinds the dataset asked for)."""
        chart = self._chart(rows, at)
        lines = [f"Patient: {self.base['sex']}, age band {self.base['age_band']}."]
        if chart.get("problems"):
            lines.append("Problems: " + "; ".join(f"{c['display']} (since {c['onset'] or 'unknown'})" for c in chart["problems"]))
        if chart.get("medications"):
            lines.append("Medications: " + "; ".join(r["display"] for r in chart["medications"] if r["status"] != "stopped"))
        if chart.get("allergies"):
            lines.append("Allergies: " + "; ".join(a["display"] for a in chart["allergies"]))
        if chart.get("labs"):
            latest = chart["labs"][-CONTEXT_LABS:]
            lines.append(
                "Recent results: " + "; ".join(f"{o['display']} {o['value']:g} {o['unit']} ({o['date']})" for o in latest)
            )
        if chart.get("encounters"):
            lines.append("Last visit: " + next((f"{e['type']} ({e['start']})" for e in reversed(chart["encounters"])), ""))
        return "\n".join(lines) if len(lines) > 1 else ""

    # -- imaging and variants --------------------------------------------------------------------------------

    def _images(self) -> None:
        instances = (
            m.ImagingInstance.objects.filter(series__study__patient=self.patient)
            .select_related("series__study")
            .order_by("series__study__started", "series__study__study_uid", "series__number", "series__series_uid",
                      "number", "sop_instance_uid")
        )  # fmt: skip
        dicom = DicomDeidentifier(secret=self.secret, pseudonym=self.deid.pseudonym, offset=self.deid.offset)
        identifiers = self._identifiers()
        for instance in instances:
            self.part.sources.append(f"clinic.ImagingInstance:{instance.pk}:{instance.file_sha256}")
            original = (Path(settings.MEDIA_ROOT) / instance.file).read_bytes()
            ds, data = dicom.deidentify(original)
            originals = [instance.sop_instance_uid, instance.series.series_uid, instance.series.study.study_uid or ""]
            leaked = known_identifiers_in(text_values(ds), [*identifiers, *originals, *dicom.original_patient])
            if leaked:
                raise BuildFailed(f"images/{ds.SOPInstanceUID}.dcm: {len(leaked)} identifier(s) of the patient remain "
                                  "after the DICOM profile; nothing was written")  # fmt: skip
            uid = str(ds.SOPInstanceUID)
            reason = burned_in_reason(ds)
            if reason:
                self.part.flagged.append({"sop_instance_uid": uid, "modality": str(ds.get("Modality", "")), "reason": reason})
                continue
            meta = {"patient": self.deid.pseudonym, "file": f"images/{uid}.dcm", "sop_instance_uid": uid,
                    "series_uid": str(ds.SeriesInstanceUID), "study_uid": str(ds.StudyInstanceUID),
                    "modality": str(ds.get("Modality", "")), "body_part": str(ds.get("BodyPartExamined", "")),
                    "rows": int(ds.get("Rows", 0) or 0), "columns": int(ds.get("Columns", 0) or 0),
                    "study_date": _iso(str(ds.get("StudyDate", ""))), "format": FORMAT_VERSION}  # fmt: skip
            self.part.images.append(Image(uid=uid, data=data, meta=meta))
        self.part.dicom.update(dicom.counts)

    def _identifiers(self) -> list[str]:
        p = self.patient
        parts = [w for n in (p.name, p.given_name, p.family_name) for w in n.replace(",", " ").split()]
        birth = [p.birth_date.strftime("%Y%m%d"), p.birth_date.isoformat()] if p.birth_date else []
        return [*parts, p.mrn, p.fhir_id, *birth]

    def _variants(self) -> None:
        for v in (
            m.GenomicVariant.objects.filter(patient=self.patient)
            .select_related("report")
            .order_by("chrom", "pos", "ref", "alt", "id")
        ):
            self.part.sources.append(f"clinic.GenomicVariant:{v.pk}:{v.report.file_sha256}")
            self.part.variants.append({
                "patient": self.deid.pseudonym, "assembly": v.assembly, "chrom": v.chrom, "pos": v.pos, "ref": v.ref,
                "alt": v.alt, "gene": v.gene, "genotype": v.genotype, "zygosity": v.zygosity, "depth": v.depth,
                "quality": v.quality, "filter": v.filter, "significance": v.significance, "hgvs": v.hgvs,
                "condition": v.condition, "review_status": v.review_status,
                "rsid": v.variant_id if v.variant_id.startswith("rs") else "", "format": FORMAT_VERSION,
            })  # fmt: skip


def _iso(value: str) -> str | None:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) >= 8 and value[:8].isdigit() else None
