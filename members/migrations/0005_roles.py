"""The four back-office roles as groups (members/roles.py). Brands are cloned from the migrated
`brand_template` schema, so every brand starts with them; existing brands get them when migrated.
post_migrate (members/apps.py) tops them up with permissions of models added later."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from members.roles import roles_sync

    roles_sync(apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("members", "0004_member_merged_status_and_permissions"),
    ]

    # No reverse: groups may already hold users; removing them would silently lock people out.
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
