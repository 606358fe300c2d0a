"""The brand back office's sidebar (crm/admin_nav.py) names every page a person works on: a model
registered on the brand site and missing from GROUPS is reachable only through 全部菜单."""

from crm.admin_nav import GROUPS
from crm.admin_sites import brand_admin

# Records read only when one arrives from elsewhere (a member's page, a digest mail), not places
# a person goes to.
NOT_IN_THE_SIDEBAR = {"scancodes.digestsend", "membercentre.membercoderesolution"}


def test_every_brand_page_is_in_the_sidebar():
    listed = {label.split(":")[0] for _title, items in GROUPS for _name, _icon, label in items}
    registered = {model._meta.label_lower for model in brand_admin._registry}
    assert registered - listed - NOT_IN_THE_SIDEBAR == set()


def test_the_engagement_and_scan_code_groups_are_on_the_pages(admin_client_a):
    page = admin_client_a.get("/admin/engagement/checkinreminder/").content.decode()
    assert "会员互动" in page and "签到提醒记录" in page and "一物一码" in page and "窜货预警" in page
    assert '/admin/engagement/referral/graph/"' in page
