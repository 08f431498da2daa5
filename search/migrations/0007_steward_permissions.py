"""The steward role manages the search index and the knowledge documents."""

from django.db import migrations

STEWARD = ["view_indexstate", "change_indexstate", "view_knowledgedocument", "add_knowledgedocument", "view_chunk"]


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    config = apps.get_app_config("search")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="steward")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="search", codename__in=STEWARD))


class Migration(migrations.Migration):
    dependencies = [("search", "0006_hnsw_shards"), ("clinic", "0004_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
