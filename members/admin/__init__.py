"""Brand-admin registrations of the members app. Django's admin autodiscovery imports this
package; it also imports the loyalty engineer's `members.admin_loyalty` (tiers, orders, ledger)
so its registrations load too."""

import importlib
import importlib.util

from . import members, others  # noqa: F401  (registrations)

if importlib.util.find_spec("members.admin_loyalty") is not None:
    importlib.import_module("members.admin_loyalty")
