"""factory_boy factories for the brand apps. They write rows directly (bypassing services) to set
up a scene; tests of a service call the service itself. Use them inside a brand schema
(`in_brand_a` / `in_brand_b` or `schema_context`)."""

import datetime as dt

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from members.models import Identity, IdentityKind, Member, Staff, Store, Tag, Tier


class StoreFactory(DjangoModelFactory[Store]):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.Sequence(lambda n: f"上海{n}号店")
    city = "上海"


class StaffFactory(DjangoModelFactory[Staff]):
    class Meta:
        model = Staff

    store = factory.SubFactory(StoreFactory)
    name = factory.Sequence(lambda n: f"导购{n}")
    wecom_userid = factory.Sequence(lambda n: f"staff{n}")


class TierFactory(DjangoModelFactory[Tier]):
    class Meta:
        model = Tier
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"tier{n}")
    name = factory.Sequence(lambda n: f"等级{n}")
    rank = factory.Sequence(lambda n: n + 1)


class MemberFactory(DjangoModelFactory[Member]):
    class Meta:
        model = Member

    member_no = factory.Sequence(lambda n: f"T{n:09d}")
    name = factory.Sequence(lambda n: f"会员{n}")
    mobile = factory.Sequence(lambda n: f"+86138{n:08d}")
    home_store = factory.SubFactory(StoreFactory)
    enrolled_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=30))


class IdentityFactory(DjangoModelFactory[Identity]):
    class Meta:
        model = Identity

    member = factory.SubFactory(MemberFactory)
    kind = IdentityKind.WECHAT_UNIONID
    value = factory.Sequence(lambda n: f"union{n:08d}")


class TagFactory(DjangoModelFactory[Tag]):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"标签{n}")
