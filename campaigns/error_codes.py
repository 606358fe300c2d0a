"""Stable codes of campaign errors (API `code`, admin messages)."""

CAMPAIGN_INVALID_SCHEDULE = "campaign_invalid_schedule"
CAMPAIGN_INVALID_STATUS = "campaign_invalid_status"
CAMPAIGN_INVALID_MESSAGE = "campaign_invalid_message"
CAMPAIGN_NOTHING_TO_DO = "campaign_nothing_to_do"
CAMPAIGN_REWARD_UNAVAILABLE = "campaign_reward_unavailable"  # the reward is off the shelf or out of stock
CAMPAIGN_EMPTY_AUDIENCE = "campaign_empty_audience"  # publishing to nobody without saying so
