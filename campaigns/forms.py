from django import forms

from crm.errors import AppError

from .models import Campaign
from .services import campaign_validate


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = [  # everything a marketer edits; status changes only through the actions
            "name",
            "type",
            "frequency",
            "time_of_day",
            "day_of_month",
            "weekdays",
            "run_at",
            "start_date",
            "end_date",
            "tiers",
            "stores",
            "tags",
            "assigned_staff",
            "lifecycle_stages",
            "enrolled_after",
            "enrolled_before",
            "purchased_within_days",
            "not_purchased_within_days",
            "points_min",
            "points_max",
            "holdout_pct",
            "multiplier_pct",
            "bonus_points",
            "bonus_expiry_days",
            "reward",
            "message_channel",
            "message_template",
        ]
        widgets = {"message_template": forms.Textarea(attrs={"rows": 4})}

    def clean(self):
        data = super().clean()
        instance = self.instance
        if self.errors or instance.status not in (Campaign.Status.SCHEDULED, Campaign.Status.PAUSED):
            return data
        # A live campaign must stay publishable after the edit: check the edited copy.
        for field, value in data.items():
            if field in {f.name for f in Campaign._meta.concrete_fields}:
                setattr(instance, field, value)
        try:
            campaign_validate(campaign=instance)
        except AppError as exc:
            for field, messages in exc.fields.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        return data
