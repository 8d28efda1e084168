import datetime

from django.db import migrations, models


def forget_activity(apps, schema_editor):
    # Eras change from an index to their first month: the bitmaps are rebuilt by the
    # next refresh, which rebuilds everything once the watermark is gone.
    apps.get_model("catalog", "ActivityPattern").objects.all().delete()
    apps.get_model("catalog", "ListenerActivity").objects.all().delete()
    apps.get_model("catalog", "ContentRollupWatermark").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0004_podcast_devices_activity_patterns_track_index'),
    ]

    operations = [
        migrations.RunPython(forget_activity, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name='activitypattern', name='activitypattern_unique'),
        migrations.RemoveConstraint(model_name='listeneractivity', name='listeneractivity_unique'),
        migrations.RemoveField(model_name='activitypattern', name='era'),
        migrations.RemoveField(model_name='listeneractivity', name='era'),
        migrations.AddField(
            model_name='activitypattern',
            name='era',
            field=models.DateField(
                default=datetime.date(2000, 1, 1),
                help_text='The first month of the era, as in `ListenerActivity`.',
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='listeneractivity',
            name='era',
            field=models.DateField(
                default=datetime.date(2000, 1, 1),
                help_text='The first month of the era (January 2000, 2005, ...).',
            ),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name='activitypattern',
            constraint=models.UniqueConstraint(fields=('era', 'country', 'months'), name='activitypattern_unique'),
        ),
        migrations.AddConstraint(
            model_name='listeneractivity',
            constraint=models.UniqueConstraint(fields=('era', 'listener'), name='listeneractivity_unique'),
        ),
    ]
