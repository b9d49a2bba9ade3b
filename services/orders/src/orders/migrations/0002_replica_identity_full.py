from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    """Make the WAL carry the whole old row on UPDATE and DELETE.

    Debezium then emits a delete (and an update's ``before``) with every column,
    so the orders translator can publish the last state of a deleted order.
    """

    dependencies = (("orders", "0001_initial"),)

    operations = (
        migrations.RunSQL(
            sql="ALTER TABLE orders_order REPLICA IDENTITY FULL",
            reverse_sql="ALTER TABLE orders_order REPLICA IDENTITY DEFAULT",
        ),
    )
