from django.apps import AppConfig


class PerformanceConfig(AppConfig):
    name = "performance"
    label = "performance"
    verbose_name = "导购业绩"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Lower layers announce; staff performance listens (members never imports this app).
        from campaigns.hooks import on_group_messages_delivered
        from coupons.hooks import on_coupon_event
        from membercentre.hooks import on_member_signed_in
        from members.hooks import on_order_refunded, order_insert_rider_register, order_note_provider_register
        from wecom.hooks import on_customer_added

        from .attribution import (
            ATTRIBUTION_RIDER_ONE_SQL,
            ATTRIBUTION_RIDER_PREVIOUS_SQL,
            ATTRIBUTION_RIDER_SQL,
            FUNCTION_NAME,
            ONE_FUNCTION_NAME,
            RIDER_NAME,
            SERVED_TOUCH_RIDER_ONLY_WITH,
            SERVED_TOUCH_RIDER_SQL,
            TOUCH_RIDER_NAME,
        )
        from .selectors import order_credit_texts
        from .services import (
            attribution_refund_in_transaction,
            touch_from_share_on_sign_in,
            touch_from_wecom_add_in_transaction,
            touches_from_coupons_in_transaction,
            touches_from_group_messages_in_transaction,
        )

        order_insert_rider_register(
            name=RIDER_NAME,
            sql=ATTRIBUTION_RIDER_SQL,
            one_order_sql=ATTRIBUTION_RIDER_ONE_SQL,
            reads_owners=True,
            needs=(FUNCTION_NAME, ONE_FUNCTION_NAME),  # migration 0015
            previous_sql=ATTRIBUTION_RIDER_PREVIOUS_SQL,
        )
        order_insert_rider_register(
            name=TOUCH_RIDER_NAME, sql=SERVED_TOUCH_RIDER_SQL, only_with=SERVED_TOUCH_RIDER_ONLY_WITH
        )
        on_order_refunded(attribution_refund_in_transaction)
        on_customer_added(touch_from_wecom_add_in_transaction)
        on_coupon_event(touches_from_coupons_in_transaction)
        on_group_messages_delivered(touches_from_group_messages_in_transaction)
        on_member_signed_in(touch_from_share_on_sign_in)
        order_note_provider_register(label="业绩归属", provider=order_credit_texts)
