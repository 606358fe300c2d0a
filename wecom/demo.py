"""Demo data: the demo brand's WeCom app points at the fake WeCom server that `dev.py serve` runs
(Procfile `wecom`), so the whole flow can be seen without the internet.

The portal side mirrors `fake.server.demo_corp()` from the same tables (DEMO_FOLLOWS, ...): the
first demo members are linked to their WeCom contact and owned by the staff member they follow,
two channel QR codes exist, and one on-the-job transfer waits for the customer. Nothing here
calls the fake (it may not be running while the demo is seeded). Idempotent.
"""

from django.db import transaction
from django.utils import timezone

from members.models import IdentityKind, MemberAssignment, Staff, Store
from members.selectors import member_lookup
from members.services.members import identity_bind, member_assign

from .fake.server import (
    DEMO_AES_KEY,
    DEMO_CONTACT_WAYS,
    DEMO_CORP_ID,
    DEMO_FOLLOWS,
    DEMO_PENDING_TRANSFER,
    DEMO_SECRET,
    DEMO_TOKEN,
    demo_external_userid,
    demo_unionid,
)
from .models import ContactWay, CustomerTransfer, FollowRelation, WecomConfig
from .services import wecom_config_save

DEMO_FAKE_URL = "http://127.0.0.1:8765/cgi-bin/"
DEMO_ACTOR = "demo"


def seed() -> None:
    if not WecomConfig.objects.exists():  # never overwrite what someone configured by hand
        wecom_config_save(
            corp_id=DEMO_CORP_ID,
            secret=DEMO_SECRET,
            token=DEMO_TOKEN,
            encoding_aes_key=DEMO_AES_KEY,
            api_base_url=DEMO_FAKE_URL,
            welcome_text="您好，我是您的专属导购，欢迎加入悦禾茶饮会员！",
        )
    # The members demo (earlier in TENANT_APPS) has created the staff and members used below.
    staff = {s.wecom_userid: s for s in Staff.objects.exclude(wecom_userid="")}
    _relations_seed(staff)
    _contact_ways_seed(staff)
    _pending_transfer_seed(staff)


def _relations_seed(staff: dict[str, Staff]) -> None:
    now = timezone.now()
    for n, userid, state in DEMO_FOLLOWS:
        member = member_lookup(kind=IdentityKind.WECHAT_UNIONID, value=demo_unionid(n))
        if member is None or userid not in staff:
            continue
        ext = demo_external_userid(n)
        with transaction.atomic():
            FollowRelation.objects.get_or_create(
                external_userid=ext,
                staff_userid=userid,
                defaults={"unionid": demo_unionid(n), "name": member.name, "state": state, "added_at": now},
            )
            identity_bind(member=member, kind=IdentityKind.WECOM_EXTERNAL_USERID, value=ext, actor=DEMO_ACTOR)
            member_assign(
                member=member, staff=staff[userid], reason=MemberAssignment.Reason.WECOM_ADD, actor=DEMO_ACTOR
            )


def _contact_ways_seed(staff: dict[str, Staff]) -> None:
    for config_id, state, users, name, store_code in DEMO_CONTACT_WAYS:
        if ContactWay.objects.filter(config_id=config_id).exists():
            continue
        with transaction.atomic():
            way = ContactWay.objects.create(
                name=name,
                state=state,
                store=Store.objects.filter(code=store_code).first(),
                type=ContactWay.Type.SINGLE if len(users) == 1 else ContactWay.Type.MULTI,
                config_id=config_id,
                qr_code=f"https://wework.qpic.cn/fake/qr/{config_id}.png",
                created_by=DEMO_ACTOR,
            )
            way.staff.set([staff[userid] for userid in users if userid in staff])


def _pending_transfer_seed(staff: dict[str, Staff]) -> None:
    n, handover, takeover = DEMO_PENDING_TRANSFER
    member = member_lookup(kind=IdentityKind.WECOM_EXTERNAL_USERID, value=demo_external_userid(n))
    if member is None or handover not in staff or takeover not in staff:
        return
    if CustomerTransfer.objects.filter(external_userid=demo_external_userid(n)).exists():
        return
    CustomerTransfer.objects.create(
        member=member,
        external_userid=demo_external_userid(n),
        handover=staff[handover],
        takeover=staff[takeover],
        kind=CustomerTransfer.Kind.ON_JOB,
        status=CustomerTransfer.Status.WAITING,
        message="您好，您的专属导购已变更为张敏，她会继续为您服务。",
        attempts=1,
        actor=DEMO_ACTOR,
        sent_at=timezone.now(),
    )
