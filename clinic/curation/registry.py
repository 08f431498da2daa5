"""Content kinds that other apps provide: clinic never imports them, they register here at start-up.

`agents` registers its assistant exchanges (question → cited answer) and signed drafts (generated → signed) in
`AgentsConfig.ready`, the way `search` subscribes to clinic.hooks. A provider returns identified examples for one
patient; curation de-identifies every string it returns, so a provider cannot leak what it forgets to clean.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from clinic import models as m


@dataclass(frozen=True)
class Example:
    """One teaching example of a patient's chart, as stored (identified)."""

    at: dt.datetime | None  # when it was asked or signed: the chart context is taken as of then
    instruction: str  # the question, or the writing task ("Write a discharge summary for this patient.")
    response: str  # what was accepted: the cited answer, or the signed note
    rejected: str = ""  # the version the clinician did not sign (preference pairs); "" when there is none
    title: str = ""
    source_key: str = ""  # identifies the source row in the card's source hash (never written out)


Provider = Callable[[m.Patient], Iterable[Example]]


@dataclass(frozen=True)
class ContentKind:
    name: str
    label: str
    provider: Provider
    gives_pairs: bool  # whether its examples carry a rejected version (preference datasets need one such kind)


_kinds: dict[str, ContentKind] = {}


def register_content(kind: str, provider: Provider, *, label: str, gives_pairs: bool = False) -> None:
    """Offer `kind` as dataset content (idempotent: AppConfig.ready may run twice in tests)."""
    if kind in m.Dataset.CONTENT_CHOICES:
        raise ValueError(f"{kind} is a built-in content kind")
    _kinds[kind] = ContentKind(name=kind, label=label, provider=provider, gives_pairs=gives_pairs)


def registered_content() -> dict[str, ContentKind]:
    return dict(sorted(_kinds.items()))


def content_kinds() -> list[str]:
    """Every kind a dataset may ask for: the built-in ones, then those registered."""
    return [*m.Dataset.CONTENT_CHOICES, *registered_content()]
