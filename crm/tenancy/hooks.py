"""What the brand apps do when a brand is set up, without crm.tenancy importing them.

Provisioning creates the brand's schema from the template; some of what the template holds can
only be finished with the brand's own details. The consent app, for one, fills the membership
agreement with the brand's name and contacts (PIPL art. 17) and publishes it. It registers a
handler in its AppConfig.ready():

    from crm.tenancy.hooks import BrandSetUp, on_brand_set_up

    on_brand_set_up(membership_agreement_for_brand)

Handlers run INSIDE the provisioning transaction and inside the brand's schema: an exception
rolls the whole provisioning back. They are called again each time the brand's details are
saved (a re-run of `create_brand`, a change in the platform admin), so they must be idempotent
and must not overwrite what the brand has since written itself.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django_tenants.utils import schema_context

from crm.hooks import Hook


@dataclass(frozen=True)
class BrandSetUp:
    schema_name: str
    name: str
    contact_address: str
    pi_contact: str
    # Who set the brand up, for the records the handlers write ("brand_provision", "platform:<user>").
    actor: str


Handler = Callable[[BrandSetUp], None]
brand_set_up: Hook[BrandSetUp, None] = Hook("brand set up")
on_brand_set_up = brand_set_up.connect
disconnect = brand_set_up.disconnect


def brand_set_up_notify_in_transaction(event: BrandSetUp) -> None:
    """Run every handler now, in the brand's schema, inside the caller's transaction."""
    with schema_context(event.schema_name):
        brand_set_up.tell(event)
