"""Strict readers for FHIR R4 datatypes: each returns a Python value or raises FieldError naming the field."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


class FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def datetime_value(resource: dict[str, Any], field: str) -> dt.datetime | None:
    """A FHIR date or dateTime as an aware datetime (partial dates fall on the first day, UTC)."""
    value = resource.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError(field, f"expected a date/time string, got {value!r}")
    try:
        if _DATETIME.match(value):
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        if _DATE.match(value):
            parts = [int(p) for p in value.split("-")] + [1, 1]
            return dt.datetime(parts[0], parts[1], parts[2], tzinfo=dt.UTC)
    except ValueError:
        pass
    raise FieldError(field, f"{value!r} is not a valid FHIR date/dateTime (YYYY-MM-DDThh:mm:ss+zz:zz)")


def date_value(resource: dict[str, Any], field: str) -> dt.date | None:
    value = resource.get(field)
    if value is None:
        return None
    if isinstance(value, str) and _DATE.match(value):
        try:
            parts = [int(p) for p in value.split("-")] + [1, 1]
            return dt.date(parts[0], parts[1], parts[2])
        except ValueError:
            pass
    raise FieldError(field, f"{value!r} is not a valid FHIR date (YYYY-MM-DD)")


def period_values(resource: dict[str, Any], field: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    period = resource.get(field)
    if period is None:
        return None, None
    if not isinstance(period, dict):
        raise FieldError(field, f"expected a Period object, got {period!r}")
    try:
        return datetime_value(period, "start"), datetime_value(period, "end")
    except FieldError as e:
        raise FieldError(f"{field}.{e.field}", e.message) from None


def periods_in_order(node: Any, path: str = "") -> None:
    """FHIR's invariant per-1 on every Period of a resource, the ones no mapper reads included: no end before its start.

    A Period is any object under `period` or a `…Period` key (Timing.repeat.period and SampledData.period are numbers).
    The walk builds no paths (it runs on every resource of every import); only a backwards Period is looked for again
    with its path, for the message.
    """
    if _has_backwards_period(node):
        _raise_for_backwards_period(node, path)


def _is_period(key: Any, value: Any) -> bool:
    return isinstance(value, dict) and isinstance(key, str) and (key == "period" or key.endswith("Period"))


def _has_backwards_period(node: Any) -> bool:
    stack = [node]
    while stack:
        current = stack.pop()
        items = current.items() if isinstance(current, dict) else enumerate(current)
        for key, value in items:
            if isinstance(value, dict):
                if _is_period(key, value) and "start" in value and "end" in value and _backwards(value, str(key)):
                    return True
                stack.append(value)
            elif isinstance(value, list):
                stack.append(value)
    return False


def _raise_for_backwards_period(node: Any, path: str) -> None:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else key
        if _is_period(key, value):
            _period_in_order(value, where)
        if isinstance(value, (dict, list)):
            _raise_for_backwards_period(value, where)


def _backwards(period: dict[str, Any], where: str) -> bool:
    try:
        _period_in_order(period, where)
    except FieldError:
        return True
    return False


def _period_in_order(period: dict[str, Any], where: str) -> None:
    start, end = period_values({where: period}, where)
    if start is None or end is None:
        return
    first, last = str(period["start"]), str(period["end"])
    if "T" in first and "T" in last:
        backwards = end < start
    else:  # a date is as long as its precision: compare both at the coarser one ("2024-05" holds "2024-05-02")
        digits = min(len(first.split("T")[0]), len(last.split("T")[0]))
        backwards = last[:digits] < first[:digits]
    if backwards:
        raise FieldError(
            where, f"ends ({last}) before it starts ({first}); a Period's end may not precede its start (FHIR per-1)"
        )


def number_value(obj: dict[str, Any], field: str, where: str) -> float | None:
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(f"{where}.{field}", f"expected a number, got {value!r}")
    return float(value)


def quantity(obj: Any, where: str) -> tuple[float | None, str]:
    if obj is None:
        return None, ""
    if not isinstance(obj, dict):
        raise FieldError(where, f"expected a Quantity object, got {obj!r}")
    return number_value(obj, "value", where), str(obj.get("unit") or obj.get("code") or "")


def coding(concept: Any, where: str) -> tuple[str, str, str]:
    """(system, code, display) of the first coding of a CodeableConcept (display falls back to text)."""
    if concept is None:
        return "", "", ""
    if isinstance(concept, list):
        concept = concept[0] if concept else {}
    if not isinstance(concept, dict):
        raise FieldError(where, f"expected a CodeableConcept, got {concept!r}")
    codings = concept.get("coding") or []
    if not isinstance(codings, list):
        raise FieldError(f"{where}.coding", "expected a list of Coding")
    first = codings[0] if codings and isinstance(codings[0], dict) else {}
    display = first.get("display") or concept.get("text") or ""
    return str(first.get("system") or ""), str(first.get("code") or ""), str(display)


def concept_text(concept: Any) -> str:
    if isinstance(concept, list):
        return ", ".join(filter(None, (concept_text(c) for c in concept)))
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    codings = concept.get("coding") or []
    return ", ".join(str(c.get("display") or c.get("code") or "") for c in codings if isinstance(c, dict))


def status_code(concept: Any) -> str:
    """The code of a status CodeableConcept (clinicalStatus, verificationStatus)."""
    if isinstance(concept, str):
        return concept
    return coding(concept, "status")[1]


def reference(resource: dict[str, Any], field: str) -> str | None:
    """The `Type/id` a Reference points to (already rewritten by the importer), or None."""
    ref = resource.get(field)
    if isinstance(ref, list):
        ref = ref[0] if ref else None
    if ref is None:
        return None
    if not isinstance(ref, dict):
        raise FieldError(field, f"expected a Reference object, got {ref!r}")
    value = ref.get("reference")
    return value if isinstance(value, str) else None


def human_name(names: Any) -> tuple[str, str, str]:
    """(given, family, display) of the official (else first) HumanName."""
    if not isinstance(names, list) or not names:
        return "", "", ""
    name = next((n for n in names if isinstance(n, dict) and n.get("use") == "official"), names[0])
    if not isinstance(name, dict):
        return "", "", ""
    given = " ".join(str(g) for g in name.get("given") or [])
    family = str(name.get("family") or "")
    display = str(name.get("text") or " ".join(p for p in (given, family) if p))
    return given, family, display
