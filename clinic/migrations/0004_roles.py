"""The four roles as groups with their permissions (clinic's; search's are added by search's migration)."""

from django.db import migrations

ROLE_PERMISSIONS = {
    "clinician": ["read_chart", "break_glass"],
    "steward": [
        "review_audit", "import_data", "view_ingestionrun", "view_auditevent", "view_dataset", "add_dataset",
        "change_dataset", "download_dataset", "view_apitoken", "add_apitoken", "change_apitoken", "view_breakglass",
        "change_breakglass", "view_careteammember", "add_careteammember", "change_careteammember",
        "delete_careteammember", "view_practitioner", "change_practitioner", "view_organization",
        "query_cohort_counts",
    ],
    "researcher": ["query_cohort_counts", "download_dataset"],
    "integration": ["read_all_charts", "import_data"],
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    config = apps.get_app_config("clinic")
    config.models_module = True  # historical app configs have none, and create_permissions skips those
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="clinic", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [("clinic", "0003_access_and_audit"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
