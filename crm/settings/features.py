"""Knobs of single capabilities (each says which app reads it)."""

import os

from .environment import env_bool

# campaigns: an occurrence missed by up to this long is still run when beat or the broker return.
CAMPAIGN_CATCH_UP_GRACE_MINUTES = int(os.environ.get("CAMPAIGN_CATCH_UP_GRACE_MINUTES", "360"))

# dashboard: connections the aggregate rebuild uses (dashboard.services.dashboard_refresh). With 2,
# the repurchase pass over a year of orders runs on a second connection beside the other steps (the
# refresh's wall time on 2 cores is then about its larger half); 1 runs every step on one.
DASHBOARD_REFRESH_CONNECTIONS = int(os.environ.get("DASHBOARD_REFRESH_CONNECTIONS", "2"))

# members: the brand-local hour of the daily lifecycle refresh (04:05 Shanghai: after the tier
# re-evaluation, whose top tier counts as loyalty).
MEMBERS_LIFECYCLE_BRAND_HOUR = 4

# membercentre: links that leave a request (the 退订 footer of an SMS, a WeCom message) name the
# brand's primary domain with this scheme and port (consent.services.links.brand_url).
MEMBER_LINK_SCHEME = os.environ.get("MEMBER_LINK_SCHEME", "https")
MEMBER_LINK_PORT = os.environ.get("MEMBER_LINK_PORT", "")
# Replies to SMS (退订) reach /sms/replies/ on the brand host, signed by the provider with this
# shared secret (campaigns.sms); without one every callback is refused.
SMS_CALLBACK_SECRET = os.environ.get("SMS_CALLBACK_SECRET", "")

# scancodes: wrong claim codes tolerated per IP and per serial within the window before scans are
# refused.
SCANCODES_FAILURES_PER_IP = int(os.environ.get("SCANCODES_FAILURES_PER_IP", "10"))
SCANCODES_FAILURES_PER_SERIAL = int(os.environ.get("SCANCODES_FAILURES_PER_SERIAL", "5"))
SCANCODES_FAILURE_WINDOW_SECONDS = int(os.environ.get("SCANCODES_FAILURE_WINDOW_SECONDS", "900"))
# The common claim (a points campaign, no flag, alert or owner to assign) in one statement
# (scancodes/claim_fast.py); off: every claim takes the ORM path (the benchmark's A/B, a test).
SCANCODES_CLAIM_FAST = env_bool("SCANCODES_CLAIM_FAST", default=True)
# Path of ip2region_v4.xdb (lionsoul2014/ip2region, Apache-2.0); empty: the small shipped table.
SCANCODES_IP2REGION_XDB = os.environ.get("SCANCODES_IP2REGION_XDB", "")
# The diversion digest of a brand's yesterday is mailed from this hour of the brand's own clock to
# those who may see the alerts (scancodes/digest.py).
SCANCODES_DIGEST_BRAND_HOUR = int(os.environ.get("SCANCODES_DIGEST_BRAND_HOUR", "8"))

# posters (crm/posters.py): share posters draw Chinese with this CJK font file; empty: Debian's
# fonts-noto-cjk, WenQuanYi, then fontconfig. Without any, posters carry only the QR code and token.
POSTER_FONT = os.environ.get("POSTER_FONT", "")
