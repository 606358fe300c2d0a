"""Two WeChat people bind the same mobile at the same moment (each on its own connection, in a
throw-away brand, as the ledger's concurrency tests do): one is linked, the other refused."""

from django_tenants.utils import schema_context

from crm.errors import AppError
from membercentre.services.binding import wechat_mobile_bind
from membercentre.services.signin import SigninIdentity
from members.models import Identity, IdentityKind
from tests.factories import MemberFactory
from tests.members.loyalty_scene import throwaway_brand
from tests.members.test_ledger_concurrency import run_in_threads

race_brand = throwaway_brand


def test_two_wechat_people_binding_one_mobile_at_once_link_only_one(race_brand):
    with schema_context(race_brand.schema_name):
        member = MemberFactory.create(mobile="+8613933334444")
        Identity.objects.create(member=member, kind=IdentityKind.MOBILE, value=member.mobile)
    results: list[str] = []

    def bind(n: int):
        def job() -> None:
            identity = SigninIdentity(method="wechat", openid=f"oRace{n}", unionid=f"uRace{n}")
            try:
                wechat_mobile_bind(identity=identity, mobile=member.mobile)
                results.append("bound")
            except AppError as error:
                results.append(error.code)

        return job

    assert run_in_threads(race_brand, [bind(1), bind(2)]) == []

    assert sorted(results) == ["bound", "member_centre_mobile_taken"]
    with schema_context(race_brand.schema_name):
        assert Identity.objects.filter(member=member, kind=IdentityKind.WECHAT_UNIONID).count() == 1
