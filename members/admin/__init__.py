"""Brand-admin registrations of the members app (Django's admin autodiscovery imports this
package): members and their identities, stores/staff/tags, and loyalty — tiers, orders, ledger,
rewards — and the queue of points adjustments waiting for approval."""

from . import adjust_requests, loyalty, members, others  # noqa: F401  (registrations)
