"""Stable codes of campaign errors (API `code`, admin messages), with their text in both languages."""

from crm.errors import ErrorText, error_texts_register

CAMPAIGN_INVALID_SCHEDULE = "campaign_invalid_schedule"
CAMPAIGN_INVALID_STATUS = "campaign_invalid_status"
CAMPAIGN_INVALID_MESSAGE = "campaign_invalid_message"
CAMPAIGN_NOTHING_TO_DO = "campaign_nothing_to_do"
CAMPAIGN_REWARD_UNAVAILABLE = "campaign_reward_unavailable"  # the reward is off the shelf or out of stock
CAMPAIGN_EMPTY_AUDIENCE = "campaign_empty_audience"  # publishing to nobody without saying so

TEXTS: dict[str, ErrorText] = {
    CAMPAIGN_INVALID_SCHEDULE: ErrorText("活动时间设置有误。", "The campaign's schedule is invalid."),
    CAMPAIGN_INVALID_STATUS: ErrorText("活动当前状态不能这样操作。", "The campaign's state does not allow this."),
    CAMPAIGN_INVALID_MESSAGE: ErrorText("消息内容有误。", "The message is invalid."),
    CAMPAIGN_NOTHING_TO_DO: ErrorText(
        "活动既无权益也无消息，请至少设置一项。", "The campaign gives nothing and sends nothing; set one."
    ),
    CAMPAIGN_REWARD_UNAVAILABLE: ErrorText("该礼品已下架或库存不足。", "The reward is off the shelf or out of stock."),
    CAMPAIGN_EMPTY_AUDIENCE: ErrorText(
        "当前条件下没有会员会被触达，确认后才能发布。", "Nobody matches the audience; confirm to publish anyway."
    ),
}
error_texts_register(TEXTS)
