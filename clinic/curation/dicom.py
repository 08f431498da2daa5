"""DICOM de-identification for datasets: the PS3.15 Basic Application Level Confidentiality Profile with pydicom.

Every attribute of Table E.1-1 (data/ps3_15_basic_profile.tsv) gets its action, in nested sequences too; private
attributes, curves and overlays go. Two options of the standard are applied, and declared in the file:
- Retain Longitudinal Temporal Information with Modified Dates: every date (DA, DT) moves by the patient's offset,
  the one de-identification gives their notes (times of day stay); the birth date is emptied.
- Retain Patient Characteristics, for sex, size and weight only (age is removed; the dataset gives an age band).
UIDs that are not registered DICOM UIDs are replaced by UIDs derived from the dataset's secret and the original
(pydicom's generate_uid with entropy sources), so a study, series or frame of reference keeps one new UID across
its files and the references between them still resolve. The patient's name and ID become the dataset pseudonym.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, generate_uid

PROFILE_FILE = Path(__file__).parent / "data" / "ps3_15_basic_profile.tsv"
# Retain Patient Characteristics Option, partly: what a model may learn from and Safe Harbor allows.
KEEP = {0x00100040, 0x00101020, 0x00101030}  # PatientSex, PatientSize, PatientWeight
BIRTH_DATE = 0x00100030
METHOD = "PS3.15 Basic Profile, Modified Dates, Patient Characteristics"  # LO: 64 characters at most
METHOD_CODES = [
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("113108", "Retain Patient Characteristics Option"),
]
DUMMY = "ANONYMIZED"
TEXT_VRS = {"AE", "AS", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"}
# Files that may have text burned into the pixels: screen captures, ultrasound, scanned documents, endoscopy photos.
BURNED_IN_MODALITIES = {"US", "SC", "OT", "XC", "ES", "DOC", "GM", "IVUS"}
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


@functools.cache
def profile() -> tuple[dict[int, str], list[tuple[int, int, str]]]:
    """The table: exact tags → action, and masked tags (repeating groups such as 60xx,3000) → action."""
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, str]] = []
    for line in PROFILE_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        tag, action, _name = line.split("\t")
        if "x" in tag:
            mask = int("".join("0" if c == "x" else "F" for c in tag), 16)
            masked.append((mask, int(tag.replace("x", "0"), 16), action))
        else:
            exact[int(tag, 16)] = action
    return exact, masked


def profile_action(tag: int) -> str | None:
    exact, masked = profile()
    if tag in exact:
        return exact[tag]
    return next((action for mask, value, action in masked if tag & mask == value), None)


def chosen_action(action: str) -> str:
    """Where the profile allows several actions the choice is: D when a dummy is allowed (always valid for the IOD),
    else Z when an empty value is; U* (a sequence of references): kept, with the UIDs inside replaced."""
    if "U*" in action:
        return "U*"
    return "D" if "D" in action else "Z" if "Z" in action else action


def burned_in_reason(ds: Dataset) -> str:
    """Why this file may show identifying text in its pixels ("" when nothing says so)."""
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        return "BurnedInAnnotation is YES"
    modality = str(ds.get("Modality", "")).upper()
    if modality in BURNED_IN_MODALITIES:
        return f"modality {modality} often carries burned-in text"
    if str(ds.get("SOPClassUID", "")).startswith(SECONDARY_CAPTURE):
        return "secondary capture"
    image_type = {str(v).upper() for v in (ds.get("ImageType") or [])}
    if "SCREEN SAVE" in image_type or {"SCREEN", "SAVE"} <= image_type:
        return "screen save"
    return ""


@dataclass
class DicomDeidentifier:
    """De-identifies the files of one patient in one dataset. `counts` is what the data card reports."""

    secret: str
    pseudonym: str
    offset: dt.timedelta
    counts: Counter[str] = field(default_factory=Counter)
    uids: dict[str, str] = field(default_factory=dict)  # original → new, for the read-back check
    original_patient: set[str] = field(default_factory=set)  # name parts, ID, birth date the files carried

    def new_uid(self, original: str) -> str:
        if original not in self.uids:
            self.uids[original] = str(generate_uid(entropy_srcs=[self.secret, original]))
        return self.uids[original]

    def deidentify(self, data: bytes) -> tuple[Dataset, bytes]:
        """The de-identified dataset and its file bytes (the same bytes for the same input, secret and offset)."""
        ds = pydicom.dcmread(io.BytesIO(data))
        name = str(ds.get("PatientName", "")).replace("^", " ").split()
        self.original_patient.update([*name, str(ds.get("PatientID", "")), str(ds.get("PatientBirthDate", ""))])
        before = sum(1 for _ in ds.iterall())
        ds.remove_private_tags()
        self.counts["private attributes removed"] += before - sum(1 for _ in ds.iterall())
        self._clean(ds)
        ds.PatientName = self.pseudonym
        ds.PatientID = self.pseudonym
        ds.PatientBirthDate = ""
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = METHOD
        ds.DeidentificationMethodCodeSequence = Sequence([_code(code, meaning) for code, meaning in METHOD_CODES])
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
        ds.file_meta = _file_meta(ds)
        out = io.BytesIO()
        pydicom.dcmwrite(out, ds, enforce_file_format=True)
        return ds, out.getvalue()

    def _clean(self, ds: Dataset) -> None:
        for elem in list(ds):
            action = profile_action(int(elem.tag))
            if elem.VR == "SQ" and action not in ("X", "Z", "D"):
                for item in elem.value or []:
                    self._clean(item)
                continue
            self._apply(ds, elem, chosen_action(action) if action else None)

    def _apply(self, ds: Dataset, elem: DataElement, action: str | None) -> None:
        tag = int(elem.tag)
        if tag in KEEP or elem.value in (None, "", b""):
            return
        if elem.VR in ("DA", "DT") and tag != BIRTH_DATE and action != "X":
            elem.value = self._shifted(elem)
            self.counts["dates shifted"] += 1
        elif action == "X":
            del ds[elem.tag]
            self.counts["attributes removed"] += 1
        elif action in ("Z", "D") and elem.VR == "SQ":
            elem.value = Sequence()
            self.counts["attributes emptied"] += 1
        elif action == "Z" or (action == "D" and elem.VR in ("DA", "DT", "TM")):
            elem.value = "" if elem.VR in TEXT_VRS or elem.VR in ("DA", "DT", "TM", "DS", "IS") else None
            self.counts["attributes emptied"] += 1
        elif action == "D":
            elem.value = _dummy(elem.VR)
            self.counts["attributes replaced"] += 1
        elif elem.VR == "UI" and (action == "U" or _is_instance_uid(elem)):
            elem.value = [self.new_uid(str(v)) for v in elem.value] if elem.VM > 1 else self.new_uid(str(elem.value))
            self.counts["UIDs replaced"] += 1

    def _shifted(self, elem: DataElement) -> str | list[str]:
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        shifted = [_shift(str(v), self.offset) for v in values]
        return shifted if elem.VM > 1 else shifted[0]


def _shift(value: str, offset: dt.timedelta) -> str:
    """YYYYMMDD[...] moved by whole days, the rest (a time, a zone) kept; a value that is not a date goes."""
    try:
        day = dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return ""
    return (day + offset).strftime("%Y%m%d") + value[8:]


def _is_instance_uid(elem: DataElement) -> bool:
    """A UID of this data (study, instance, device…), not a registered one such as a SOP class or transfer syntax."""
    if (elem.keyword or "").endswith(("ClassUID", "TransferSyntaxUID")):
        return False
    values = elem.value if elem.VM > 1 else [elem.value]
    return any(UID(str(v)).name == str(v) for v in values)


def _dummy(vr: str) -> object:
    if vr in TEXT_VRS:
        return DUMMY if vr != "AS" else "000Y"
    if vr in ("IS", "DS"):
        return "0"
    if vr in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"):
        return 0
    return None


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


def _file_meta(ds: Dataset) -> FileMetaDataset:
    """A fresh file meta group: the original's implementation and source AE titles go with it."""
    old = ds.file_meta
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = old.TransferSyntaxUID
    return meta


def text_values(ds: Dataset) -> list[str]:
    """Every text and UID value left in a dataset, nested ones included (for the residual check)."""
    values = []
    for elem in ds.iterall():
        if elem.VR in TEXT_VRS | {"UI", "DA", "DT"} and elem.value not in (None, ""):
            values += [str(v) for v in (elem.value if elem.VM > 1 else [elem.value])]
    return values
