"""The platform operators' admin provisions brands through the same service."""

import pytest
from django.contrib.messages import get_messages
from django_tenants.utils import schema_exists

from crm.tenancy.models import Brand
from tests.conftest import BRAND_A, brand_host

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/tenancy/brand/add/"


def test_operator_provisions_a_brand_and_sees_the_password_once(platform_client):
    response = platform_client.post(
        ADD_URL,
        {
            "name": "伽马服饰",
            "slug": "gamma",
            "domain": "gamma.localhost",
            "time_zone": "Asia/Shanghai",
            "admin_email": "boss@gamma.example",
            "admin_password": "",
        },
    )

    assert response.status_code == 302
    brand = Brand.objects.get(schema_name="gamma")
    assert brand.ready and schema_exists("gamma")
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("初始密码" in text for text in texts)


def test_operator_gets_form_errors_for_a_taken_domain(platform_client):
    response = platform_client.post(
        ADD_URL,
        {
            "name": "伽马服饰",
            "slug": "gamma",
            "domain": brand_host(BRAND_A),
            "time_zone": "Asia/Shanghai",
            "admin_email": "boss@gamma.example",
        },
    )

    assert response.status_code == 200
    assert "已被品牌" in response.content.decode()
    assert not Brand.objects.filter(schema_name="gamma").exists()


def test_brand_list_hides_the_platform_row_and_is_in_chinese(platform_client):
    response = platform_client.get("/admin/tenancy/brand/")

    body = response.content.decode()
    assert response.status_code == 200
    assert "阿尔法咖啡" in body and "贝塔美妆" in body
    assert "会员运营平台 (public)" not in body
    assert "品牌" in body
    assert "默认（控制库）" in body and ">default<" not in body  # the cell in words


def test_brand_models_are_not_on_the_platform_admin(platform_client):
    assert platform_client.get("/admin/jobs/jobrun/").status_code == 404
    assert platform_client.get("/admin/tenancy/brand/").status_code == 200


def test_platform_models_are_not_on_a_brand_admin(admin_client_a):
    assert admin_client_a.get("/admin/tenancy/brand/").status_code == 404
    assert admin_client_a.get("/admin/django_celery_beat/periodictask/").status_code == 404
    assert admin_client_a.get("/admin/jobs/jobrun/").status_code == 200
