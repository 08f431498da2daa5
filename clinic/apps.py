from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinical data"

    def ready(self) -> None:
        from clinic.roles import roles_ensure

        # After every app's migrations (and after a flush): permissions exist by then (auth's own receiver ran first).
        post_migrate.connect(roles_ensure, dispatch_uid="clinic.roles_ensure")
