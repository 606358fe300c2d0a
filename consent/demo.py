"""Demo agreements of 悦禾茶饮: the membership terms with the brand's own name (v2 of the template,
not a material change), marketing consent for each channel, and third-party sharing naming the
recipient. Runs in the demo brand's schema after the members seeder; safe to run again.

Demo members that never decided a marketing purpose get a realistic spread of decisions
(recorded as an import, so they are clearly not real consent): per purpose some granted, some
granted and later withdrawn, the rest never asked — so consent reach, withdrawals and the
campaign previews' "no consent" exclusions all show figures at first sight."""

from django.db.models import Exists, OuterRef

from members.models import Member

from .models import Agreement, AgreementVersion, ConsentRecord, ConsentState, Purpose
from .services import (
    agreement_create,
    agreement_version_draft_save,
    agreement_version_publish,
    consent_grant,
    consent_withdraw,
    purpose_version_current,
)
from .types import ConsentEvidence

BRAND = "悦禾茶饮"

# Long paragraphs are kept on one line in the text (the page wraps them), split here for the linter.
CONTROLLER = (
    f"欢迎加入{BRAND}会员。本协议由上海悦禾餐饮管理有限公司（以下简称“我们”，联系地址：上海市静安区南京西路 1266 号，"
    "个人信息保护负责人：privacy@yuehe-tea.example，400-820-1266）与您订立。"
)
RIGHTS = (
    "您可以随时在会员偏好设置页面查看已授权事项、撤回同意，申请查阅、复制、更正或删除您的个人信息；"
    "我们将在 15 日内处理。撤回同意不影响撤回前基于同意已进行的处理活动的效力。"
)

MEMBERSHIP_TEXT = f"""{BRAND}会员协议与隐私政策

{CONTROLLER}

一、我们处理的个人信息
为提供会员服务，我们处理您的手机号码、姓名（可选）、性别（可选）、生日（可选）、入会门店、消费与积分记录，以及您在各渠道（门店、{BRAND}小程序、天猫旗舰店、企业微信）的会员身份标识，用于识别同一会员。

二、处理目的与方式
1. 会员身份识别、积分累计与兑换、会员等级与生日礼等权益；
2. 订单与售后服务、专属茶饮顾问（导购）服务；
3. 履行法定义务。
营销信息推送、向第三方提供个人信息等其他目的，我们将另行单独征求您的同意，您拒绝不影响成为会员、累计或使用积分。

三、保存期限
会员关系存续期间及法律法规要求的期限内保存；会员注销后，除法律要求保存的交易与积分记录外，我们将删除或匿名化您的个人信息。

四、您的权利
{RIGHTS}

五、未成年人
未满十四周岁的未成年人入会，须由父母或其他监护人同意。

六、协议更新
协议发生实质性变更时，我们会再次征求您的同意。"""

MARKETING_TEXT = f"""{BRAND}营销信息授权

在您单独同意的范围内，我们会向您发送新品上市、会员日（每月 8 日）双倍积分、生日礼与门店活动信息：
· 短信营销：通过您的手机号发送短信；
· 企业微信营销：由您的专属茶饮顾问通过企业微信发送消息；
· 电话营销：由客服中心致电告知会员活动；
· 个性化推荐：根据您的消费记录与偏好（如常点茶饮、甜度）为您推荐商品与优惠。
每一项均可单独选择，不选择不影响会员服务；您可随时在会员偏好设置页面一键撤回。"""

SHARING_TEXT = f"""{BRAND}向第三方提供个人信息的单独授权

为向您配送积分兑换的实物礼品，我们需要将您的姓名、手机号和收货地址提供给：
接收方：上海顺达物流有限公司（联系方式：021-6088-1200）
处理目的：配送会员积分兑换礼品
处理方式：仅用于本次配送，配送完成后 30 日内删除
您可随时撤回本授权，撤回后我们将不再向其提供您的信息（将无法寄送实物礼品，可改为门店自提）。"""


def _publish_once(agreement: Agreement, text: str, purposes: list[str], **extra: object) -> None:
    if AgreementVersion.objects.filter(agreement=agreement, text=text, published_at__isnull=False).exists():
        return
    draft = agreement_version_draft_save(agreement_id=agreement.pk, text=text, purposes=purposes, **extra)  # type: ignore[arg-type]
    agreement_version_publish(version_id=draft.pk, actor="demo")


def seed() -> None:
    membership = Agreement.objects.get(code="membership")  # created by migration 0005
    _publish_once(membership, MEMBERSHIP_TEXT, [Purpose.MEMBERSHIP])
    marketing = agreement_create(code="marketing", kind=Agreement.Kind.MARKETING, title="营销信息授权")
    _publish_once(
        marketing,
        MARKETING_TEXT,
        [Purpose.MARKETING_SMS, Purpose.MARKETING_WECOM, Purpose.MARKETING_PHONE, Purpose.PERSONALISED_MARKETING],
    )
    sharing = agreement_create(code="gift_delivery", kind=Agreement.Kind.THIRD_PARTY, title="礼品配送信息共享")
    _publish_once(
        sharing,
        SHARING_TEXT,
        [Purpose.THIRD_PARTY_SHARE],
        recipient="上海顺达物流有限公司",
        recipient_purpose="配送会员积分兑换礼品",
        data_categories=["姓名", "手机号", "收货地址"],
    )
    _demo_decisions()
    _demo_withdrawals()


def _demo_decisions() -> None:
    """About 70% of demo members accept WeCom messages, 45% SMS, 25% personalised, 10% phone,
    30% gift delivery; only members with effective membership consent and no earlier decision."""
    spread = {
        Purpose.MARKETING_WECOM: 70,
        Purpose.MARKETING_SMS: 45,
        Purpose.PERSONALISED_MARKETING: 25,
        Purpose.MARKETING_PHONE: 10,
        Purpose.THIRD_PARTY_SHARE: 30,
    }
    evidence = ConsentEvidence(channel=ConsentRecord.Channel.IMPORT, extra={"source": "demo"})
    has_membership = ConsentState.objects.filter(
        member=OuterRef("pk"), purpose=Purpose.MEMBERSHIP, granted=True, needs_reconsent=False
    )
    members = Member.objects.filter(Exists(has_membership), status=Member.Status.ACTIVE).order_by("pk")
    for purpose, share in spread.items():
        if purpose_version_current(purpose=purpose) is None:
            continue
        undecided = members.exclude(consent_records__purpose=purpose).values_list("pk", flat=True)
        for member_id in undecided:
            if (member_id * 37 + len(purpose)) % 100 < share:
                consent_grant(member_id=member_id, purpose=purpose, evidence=evidence, actor="demo")


# Of the demo members who granted a marketing purpose, this share withdrew it again.
WITHDRAWN_PCT = {
    Purpose.MARKETING_WECOM: 12,
    Purpose.MARKETING_SMS: 20,
    Purpose.PERSONALISED_MARKETING: 15,
    Purpose.MARKETING_PHONE: 30,
}


def _demo_withdrawals() -> None:
    """Withdraw a stable share of the demo grants (the same members on every run; withdrawing
    what is no longer granted records nothing, so a re-run changes nothing)."""
    evidence = ConsentEvidence(channel=ConsentRecord.Channel.IMPORT, extra={"source": "demo"})
    for purpose, share in WITHDRAWN_PCT.items():
        granted = ConsentState.objects.filter(
            purpose=purpose, granted=True, member__status=Member.Status.ACTIVE
        ).values_list("member_id", flat=True)
        for member_id in sorted(granted):
            if (member_id * 53 + 7 * len(purpose)) % 100 < share:
                consent_withdraw(member_id=member_id, purpose=purpose, evidence=evidence, actor="demo")
