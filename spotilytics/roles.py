"""Staff roles as data: the groups and the permissions each one holds.

A data migration creates the groups, and every `migrate` re-syncs them after the
last migration (a post_migrate handler in `spotilytics/apps.py`), so groups always
match this table, including view rights on models added later.
"""

from __future__ import annotations

ANALYST = "Analyst"
SUPPORT = "Support"
CATALOG_EDITOR = "Catalog editor"

CATALOG_MODELS = [
    "genre",
    "artist",
    "album",
    "track",
    "podcast",
    "episode",
    "playlist",
    "playlistitem",
    "follow",
    "rating",
]
BILLING_MODELS = ["listener", "plan", "subscription", "payment"]

# (app_label, codename) pairs; "view_*" expands to every model's view permission of the app.
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    ANALYST: [
        ("catalog", "view_*"),
        ("billing", "view_*"),
        ("analytics", "view_*"),
        ("analytics", "view_kpis"),
        ("spotilytics", "view_importlog"),
    ],
    SUPPORT: [
        *[
            ("billing", f"{action}_{model}")
            for model in ("listener", "subscription")
            for action in ("view", "add", "change")
        ],
        ("billing", "view_payment"),
        ("billing", "add_payment"),  # imports of payment ledgers
        ("billing", "change_payment"),
        ("billing", "refund_payment"),
        ("billing", "view_plan"),
        ("spotilytics", "view_importlog"),
    ],
    CATALOG_EDITOR: [
        *[
            ("catalog", f"{action}_{model}")
            for model in CATALOG_MODELS
            for action in ("view", "add", "change", "delete")
        ],
        ("spotilytics", "view_importlog"),
    ],
}


def sync_roles(apps, schema_editor=None) -> None:
    """Create the role groups and set their permissions exactly as the table says."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        if apps is not global_apps:
            app_config.models_module = True  # historical apps: make create_permissions see the models
        create_permissions(app_config, apps=apps, verbosity=0)

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, grants in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        permissions = []
        for app_label, codename in grants:
            found = permission_model.objects.filter(content_type__app_label=app_label)
            if codename.endswith("*"):
                found = found.filter(codename__startswith=codename[:-1])
            else:
                found = found.filter(codename=codename)
            permissions.extend(found)
        group.permissions.set(permissions)
