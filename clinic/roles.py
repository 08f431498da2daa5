"""The four roles as Django groups with their permissions. Migrations create them (clinic 0004, search 0007);
`roles_ensure` runs after every migrate and flush too, so a test database that was flushed has them again."""

from __future__ import annotations

from typing import Any

ROLE_PERMISSIONS = {
    "clinician": ["clinic.read_chart", "clinic.break_glass"],
    "steward": [
        "clinic.review_audit", "clinic.import_data", "clinic.view_ingestionrun", "clinic.view_auditevent",
        "clinic.view_dataset", "clinic.add_dataset", "clinic.change_dataset", "clinic.download_dataset",
        "clinic.view_researchconsent", "clinic.add_researchconsent",
        "clinic.view_apitoken", "clinic.add_apitoken", "clinic.change_apitoken", "clinic.view_breakglass",
        "clinic.change_breakglass", "clinic.view_careteammember", "clinic.add_careteammember",
        "clinic.change_careteammember", "clinic.delete_careteammember", "clinic.view_practitioner",
        "clinic.change_practitioner", "clinic.view_organization", "clinic.query_cohort_counts",
        "search.view_indexstate", "search.change_indexstate", "search.view_knowledgedocument",
        "search.add_knowledgedocument", "search.view_chunk",
        "cds.view_rule", "cds.add_rule", "cds.change_rule", "cds.try_rule", "agents.view_quality",
        "agents.view_evaluationrun",
    ],
    "researcher": ["clinic.query_cohort_counts", "clinic.download_dataset"],
    "integration": ["clinic.read_all_charts", "clinic.import_data"],
}  # fmt: skip


def roles_ensure(**kwargs: Any) -> None:
    """Create the role groups and give them their permissions (idempotent; a post_migrate receiver)."""
    from django.contrib.auth.models import Group, Permission

    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = [tuple(name.split(".", 1)) for name in names]
        found = Permission.objects.filter(content_type__app_label__in={a for a, _ in wanted}, codename__in={c for _, c in wanted})
        group.permissions.add(
            *[p for p in found.select_related("content_type") if (p.content_type.app_label, p.codename) in wanted]
        )
