from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("testapp", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="AppliedEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("event_id", models.TextField()),
                ("partition", models.IntegerField()),
                ("offset", models.BigIntegerField()),
                ("pid", models.IntegerField()),
            ],
        ),
    ]
