"""Dataset curation: a cohort, the content wanted and a purpose → a de-identified, checked, documented dataset.

define: the request and its cohort; registry: content kinds other apps provide; records: one patient's part;
dicom: the PS3.15 profile; checks: duplicates, template-only notes, small cells, residual PHI; card: the data
card; build: the whole build, written atomically. docs/datasets.md says what each kind and purpose produces.
"""

from clinic.curation.build import dataset_build, datasets_root
from clinic.curation.define import dataset_build_enqueue, dataset_cohort, dataset_create
from clinic.curation.records import FORMAT_VERSION
from clinic.curation.registry import Example, content_kinds, register_content, registered_content

__all__ = [
    "FORMAT_VERSION",
    "Example",
    "content_kinds",
    "dataset_build",
    "dataset_build_enqueue",
    "dataset_cohort",
    "dataset_create",
    "datasets_root",
    "register_content",
    "registered_content",
]
