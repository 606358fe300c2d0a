"""Every brand starts with a published membership agreement v1, so it can enrol members at once.

Brands are cloned from the migrated `brand_template` schema, so this data migration reaches every
new brand (and existing brands when they are migrated). The text is a template: the brand admin
replaces the 【…】 placeholders by publishing version 2 (not a material change: the brand is only
naming itself, so earlier consents stay valid).
"""

from django.db import migrations
from django.utils import timezone

TEMPLATE_TEXT = """【品牌名称】会员协议与隐私政策（模板）

欢迎加入【品牌名称】会员。本协议由【品牌名称】（以下简称“我们”，联系地址：【联系地址】，个人信息保护负责人联系方式：【联系电话/邮箱】）与您订立。请您仔细阅读，特别是加粗的条款。

一、我们处理的个人信息
为提供会员服务，我们处理您的手机号码、姓名（可选）、性别（可选）、生日（可选）、入会门店、消费与积分记录，以及您在各渠道（门店、小程序、电商平台、企业微信）的会员身份标识，用于识别同一会员。

二、处理目的与方式
1. 会员身份识别、积分累计与兑换、会员等级与权益；
2. 订单与售后服务、会员专属导购服务；
3. 履行法定义务。
营销信息推送、向第三方提供个人信息等其他目的，我们将另行单独征求您的同意，您拒绝不影响成为会员、累计或使用积分。

三、保存期限
会员关系存续期间及法律法规要求的期限内保存；会员注销后，除法律要求保存的交易与积分记录外，我们将删除或匿名化您的个人信息。

四、您的权利
您可以随时在会员偏好设置页面查看已授权事项、撤回同意，申请查阅、复制、更正或删除您的个人信息；我们将在 15 日内处理。撤回同意不影响撤回前基于同意已进行的处理活动的效力。

五、未成年人
未满十四周岁的未成年人入会，须由父母或其他监护人同意。

六、协议更新
协议发生实质性变更时，我们会再次征求您的同意。"""


def create_template(apps, schema_editor):
    Agreement = apps.get_model("consent", "Agreement")
    AgreementVersion = apps.get_model("consent", "AgreementVersion")
    agreement, _ = Agreement.objects.get_or_create(
        code="membership", defaults={"kind": "membership", "title": "会员协议与隐私政策"}
    )
    if not AgreementVersion.objects.filter(agreement=agreement).exists():
        now = timezone.now()
        AgreementVersion.objects.create(
            agreement=agreement,
            version=1,
            text=TEMPLATE_TEXT,
            purposes=["membership"],
            effective_at=now,
            published_at=now,
        )


class Migration(migrations.Migration):
    dependencies = [("consent", "0004_published_versions_and_logs_immutable")]

    # No reverse: a published version may already carry consent records (it is proof).
    operations = [migrations.RunPython(create_template, migrations.RunPython.noop)]
