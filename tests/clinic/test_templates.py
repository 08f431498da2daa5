"""Templates: comments stay comments. Django's `{# #}` ends at the line's end; a longer one leaks into the page."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.test import Client

from clinic import models as m
from clinic.services import fhir_import_bytes
from tests.clinic.fhir_factory import bundle, dumps


def test_it_renders_the_patient_page_without_template_comment_text(superuser):
    fhir_import_bytes(name="ada.json", data=dumps(bundle(observations=3)))
    client = Client()
    client.force_login(superuser)
    html = client.get(f"/patients/{m.Patient.objects.get().pk}/").content.decode()
    assert "Ada Lovelace" in html
    assert "{#" not in html and "#}" not in html


def test_it_finds_no_template_comment_that_spans_lines():
    templates = [path for folder in settings.TEMPLATES[0]["DIRS"] for path in Path(folder).rglob("*.html")]
    assert templates
    for path in templates:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for opened in re.finditer(r"\{#", line):
                assert "#}" in line[opened.end() :], f"{path}:{number}: a {{# comment must close on its line; use {{% comment %}}"
