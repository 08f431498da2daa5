from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinical data"

    def ready(self) -> None:
        from clinic.roles import roles_ensure

        # After every app's migrations (and after a flush): permissions exist by then (auth's own receiver ran first).
        post_migrate.connect(roles_ensure, dispatch_uid="clinic.roles_ensure")
        self._forget_permissions_on_change()

    @staticmethod
    def _forget_permissions_on_change() -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group, Permission
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from clinic.permissions import forget_permissions

        user = get_user_model()
        for through in (user.groups.through, user.user_permissions.through, Group.permissions.through):
            m2m_changed.connect(forget_permissions, sender=through, dispatch_uid=f"forget-perms-{through.__name__}")
        for model in (user, Group, Permission):
            post_save.connect(forget_permissions, sender=model, dispatch_uid=f"forget-perms-save-{model.__name__}")
            post_delete.connect(forget_permissions, sender=model, dispatch_uid=f"forget-perms-delete-{model.__name__}")
