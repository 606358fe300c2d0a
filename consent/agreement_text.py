"""The membership agreement template every brand starts from, and how a brand's details fill it.

The 【…】 blanks name the brand as the personal-information processor and say how to reach it
(PIPL art. 17): a version may not be published while any 【…】 is left in its text — the publish
service refuses it, and so does the database (migration 0006). Migrations 0005 (the template
draft) and 0006 (brands that published the old template) use this module too, so a template
schema created today gets today's text.
"""

import re

# Any 【…】: the template's own blanks and any a person added while editing a draft.
PLACEHOLDER = re.compile(r"【[^【】]*】")

BRAND_NAME = "【品牌名称】"
CONTACT_ADDRESS = "【联系地址】"
PI_CONTACT = "【联系电话/邮箱】"
# The first template (migration 0005 before it became a draft) said so in its title.
TEMPLATE_MARK = "（模板）"

MEMBERSHIP_TITLE = "会员协议与隐私政策"

# Long paragraphs stay on one line in the text (the page wraps them), split here for the linter.
_RIGHTS = (
    "您可以随时在会员偏好设置页面查看已授权事项、撤回同意，申请查阅、复制、更正或删除您的个人信息；"
    "我们将在 15 日内处理。撤回同意不影响撤回前基于同意已进行的处理活动的效力。"
)

MEMBERSHIP_TEMPLATE = f"""{BRAND_NAME}会员协议与隐私政策

欢迎加入{BRAND_NAME}会员。本协议由{BRAND_NAME}（以下简称“我们”，联系地址：{CONTACT_ADDRESS}，个人信息保护负责人联系方式：{PI_CONTACT}）与您订立。请您仔细阅读，特别是加粗的条款。

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
{_RIGHTS}

五、未成年人
未满十四周岁的未成年人入会，须由父母或其他监护人同意。

六、协议更新
协议发生实质性变更时，我们会再次征求您的同意。"""


def placeholders_in(text: str) -> list[str]:
    """The 【…】 blanks left in `text`, each once, in order of appearance."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def template_mark_drop(text: str) -> str:
    """`text` without the old template's "（模板）" in its title line."""
    title, newline, rest = text.partition("\n")
    return title.replace(TEMPLATE_MARK, "") + newline + rest


def membership_text_fill(text: str, *, brand_name: str, contact_address: str, pi_contact: str) -> str:
    """`text` with the template's blanks filled from the brand's details, and the old template's
    "（模板）" mark dropped from its title line. Other 【…】 blanks are left for a person to fill."""
    text = template_mark_drop(text)
    for blank, value in ((BRAND_NAME, brand_name), (CONTACT_ADDRESS, contact_address), (PI_CONTACT, pi_contact)):
        text = text.replace(blank, value.strip())
    return text
