"""Demo data for the members app, run in the demo brand's schema by crm.demo (idempotent).

Four stores (Shanghai, Hangzhou, Beijing), their staff with WeCom user ids, a back-office login
per role, and about 200 members enrolled through `member_enroll` with consent (their enrolment
dated back over the past year). Running it again changes nothing: stores and staff are keyed by
code / WeCom id, logins by username, and members by mobile (an already enrolled mobile is skipped).
"""

import datetime as dt
import importlib
import importlib.util
import random

from django.contrib.auth import get_user_model
from django.utils import timezone

from consent.models import Agreement
from consent.services import agreement_version_current, membership_version_for_enrolment
from consent.types import ConsentDecision, ConsentEvidence
from crm.demo import DemoLogin
from crm.errors import AppError

from . import roles
from .models import Member, Staff, Tag
from .services.members import member_enroll, members_tag
from .services.stores import staff_ensure, staff_login_link, store_ensure

STAFF_PASSWORD = "Demo-Staff-2026"  # noqa: S105 (documented demo login, demo brand only)
MEMBER_COUNT = 200

STORES = [
    ("SH001", "上海静安嘉里中心店", "上海"),
    ("SH002", "上海徐汇港汇店", "上海"),
    ("HZ001", "杭州湖滨银泰店", "杭州"),
    ("BJ001", "北京三里屯太古里店", "北京"),
]
# (wecom userid, name, store code, login username or "", role)
STAFF = [
    ("zhangmin", "张敏", "SH001", "manager@demo.example", roles.STORE_MANAGER),
    ("liqiang", "李强", "SH001", "staff@demo.example", roles.STORE_STAFF),
    ("wangfang", "王芳", "SH001", "", ""),
    ("chenjing", "陈静", "SH002", "manager2@demo.example", roles.STORE_MANAGER),
    ("liuyang", "刘洋", "SH002", "", ""),
    ("zhaolei", "赵磊", "HZ001", "staff2@demo.example", roles.STORE_STAFF),
    ("sunli", "孙丽", "HZ001", "", ""),
    ("zhouhao", "周浩", "BJ001", "", ""),
    ("wuting", "吴婷", "BJ001", "", ""),
    ("hq-marketing", "郑悦", "", "marketer@demo.example", roles.HQ_MARKETER),
]
TAGS = [("咖啡爱好者", "偏好"), ("茶饮控", "偏好"), ("高净值", "价值"), ("新客", "生命周期"), ("生日月", "营销")]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英",
         "霞", "平", "刚", "桂英", "欣怡", "子涵", "梓萱", "浩然", "宇轩", "思彤", "一诺", "雨桐"]  # fmt: skip
MOBILE_PREFIXES = ["138", "139", "137", "136", "135", "150", "151", "158", "159", "186", "187", "188", "131", "177"]


def seed() -> list[DemoLogin]:
    """Seeds stores, staff, tags and members; returns the staff logins (for `serve` to print)."""
    loyalty = "members.demo_loyalty"
    if importlib.util.find_spec(loyalty) is not None:
        seed_loyalty = getattr(importlib.import_module(loyalty), "seed_loyalty", None)
        if seed_loyalty is not None:
            seed_loyalty()
    stores = {code: store_ensure(code=code, name=name, city=city) for code, name, city in STORES}
    staff_by_store: dict[str, list[Staff]] = {code: [] for code in stores}
    for wecom_userid, name, store_code, username, role in STAFF:
        staff = staff_ensure(store=stores.get(store_code), name=name, wecom_userid=wecom_userid)
        if store_code:
            staff_by_store[store_code].append(staff)
        if username and not get_user_model().objects.filter(username=username).exists():
            staff_login_link(staff=staff, username=username, role=role, password=STAFF_PASSWORD)
    tags = [Tag.objects.get_or_create(name=name, defaults={"group": group})[0] for name, group in TAGS]
    _members_seed(stores=stores, staff_by_store=staff_by_store, tags=tags)
    from .demo_orders import seed_lifecycle, seed_orders

    seed_orders()
    seed_lifecycle()
    store_names = {code: name for code, name, _city in STORES}
    return [
        DemoLogin(f"{role} {store_names.get(store_code, '总部')}", username, STAFF_PASSWORD)
        for _userid, _name, store_code, username, role in STAFF
        if username
    ]


def _members_seed(*, stores: dict, staff_by_store: dict[str, list[Staff]], tags: list[Tag]) -> None:
    if Member.objects.filter(source="demo").count() >= MEMBER_COUNT:
        return
    rng = random.Random(2026)  # the same people every run, so re-running finds them enrolled
    # The demo brand is provisioned with its contacts, so its membership agreement is complete;
    # if it is not, this refuses loudly rather than enrolling nobody.
    membership = membership_version_for_enrolment()
    optional = {
        purpose: version.pk
        for agreement in Agreement.objects.exclude(pk=membership.agreement_id)
        if (version := agreement_version_current(agreement_id=agreement.pk)) is not None
        for purpose in version.purposes
    }
    optional.update({p: membership.pk for p in membership.purposes if p != "membership"})
    today = timezone.localdate()
    now = timezone.now()
    store_codes = list(stores)
    for n in range(MEMBER_COUNT):
        store_code = store_codes[n % len(store_codes)]
        staff = rng.choice(staff_by_store[store_code])
        mobile = f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
        gender = rng.choice(["male", "female", "female", "unknown"])
        birthday = today.replace(year=today.year - rng.randint(18, 60), day=1) - dt.timedelta(days=rng.randint(0, 360))
        decisions = [ConsentDecision(purpose="membership", granted=True, version_id=membership.pk)]
        decisions += [
            ConsentDecision(purpose=purpose, granted=rng.random() < 0.6, version_id=version_id)
            for purpose, version_id in sorted(optional.items())
        ]
        identities = [("wechat_unionid", f"oDemoUnion{n:05d}")]
        if rng.random() < 0.3:
            identities.append(("tmall_ouid", f"TM{rng.randrange(10**10):010d}"))
        try:
            member = member_enroll(
                name=rng.choice(SURNAMES) + rng.choice(GIVEN),
                mobile=mobile,
                gender=gender,
                birthday=birthday,
                home_store=stores[store_code],
                identities=identities,
                decisions=decisions,
                evidence=ConsentEvidence(channel="store", staff_id=staff.pk, paper=rng.random() < 0.2),
                staff=staff,
                source="demo",
                actor="demo",
            )
        except AppError:
            continue  # already enrolled by an earlier run (or a random mobile collided): skip
        # The demo's members joined over the past year, not all this minute: the new-member chart
        # and the member count's 环比 then read like a brand's (its own generator: the rest of the
        # data stays what it was).
        joined = random.Random(f"joined-{n}")
        days_ago = joined.choice([joined.randint(0, 29), joined.randint(30, 89), *[joined.randint(90, 364)] * 2])
        enrolled_at = now - dt.timedelta(days=days_ago, hours=joined.randint(0, 10))
        Member.objects.filter(pk=member.pk).update(enrolled_at=enrolled_at)
        for tag in rng.sample(tags, k=rng.randint(0, 2)):
            members_tag(member_ids=[member.pk], tag=tag, actor="demo")
