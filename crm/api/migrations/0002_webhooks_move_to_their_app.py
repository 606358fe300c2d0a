# Webhook subscriptions and deliveries now belong to the webhooks app (webhooks/migrations/0001),
# which keeps their tables: remove them from this app's state only, nothing in the database.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('api', '0001_initial'),
        ('webhooks', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='WebhookDelivery'),
                migrations.DeleteModel(name='WebhookSubscription'),
            ],
            database_operations=[],
        ),
    ]
