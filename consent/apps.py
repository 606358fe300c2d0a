from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from crm.tenancy.hooks import BrandSetUp


def _membership_agreement_for_brand(event: "BrandSetUp") -> None:
    from .services import membership_agreement_fill

    membership_agreement_fill(
        brand_name=event.name, contact_address=event.contact_address, pi_contact=event.pi_contact, actor=event.actor
    )


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "授权与个人信息"

    def ready(self) -> None:
        from crm.tenancy.hooks import on_brand_set_up

        # A new brand's membership agreement is filled from its name and contacts (PIPL art. 17).
        on_brand_set_up(_membership_agreement_for_brand)
