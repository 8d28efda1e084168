from django.db import migrations


def rebuild_on_next_refresh(apps, schema_editor):
    # Incremental refreshes now move the month rows with each day, trusting them to hold
    # the sum of their days; an interrupted run of the previous version could leave them
    # short of days it had rewritten. Without a watermark the next refresh rebuilds them.
    apps.get_model("catalog", "ContentRollupWatermark").objects.filter(key="content").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0008_country_listener_bitmaps"),
    ]

    operations = [
        migrations.RunPython(rebuild_on_next_refresh, migrations.RunPython.noop, elidable=True),
    ]
