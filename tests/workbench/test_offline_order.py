"""门店补录订单: amount in yuan, the store and staff preset from the login, the buyer by mobile,
through order_post; a duplicate order number changes nothing and says so; the same number with
another amount is refused in Chinese."""

from django.urls import reverse

from members.models import Order, PointsEntry

from .conftest import reload


def _post(client, **data):
    return client.post(reverse("workbench:order_new"), data, follow=True)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_staff_records_a_member_order_in_yuan(staff_client, scene, staff_a):
    lin = scene["lin"]
    response = _post(staff_client, order_no="SH-0001", amount="1,258.00", mobile="139 0000 1234")
    assert response.redirect_chain[-1][0] == reverse("workbench:member", args=[lin.pk])
    assert "已录入订单 SH-0001：¥1,258.00，会员获得 1258 积分。" in _messages(response)
    order = Order.objects.get(order_no="SH-0001")
    assert (order.amount_fen, order.store_id, order.staff.store_id, order.member_id) == (
        125800,
        scene["store_a"].pk,
        scene["store_a"].pk,
        lin.pk,
    )
    assert reload(lin).points_balance == 1258


def test_duplicate_order_number_changes_nothing_and_says_so(staff_client, scene):
    _post(staff_client, order_no="SH-0002", amount="100", mobile="13900001234")
    again = _post(staff_client, order_no="SH-0002", amount="100", mobile="13900001234")
    assert "订单号 SH-0002 已录入过，本次未重复记账。" in _messages(again)
    assert Order.objects.filter(order_no="SH-0002").count() == 1
    assert PointsEntry.objects.filter(member=scene["lin"], kind=PointsEntry.Kind.EARN).count() == 1
    conflict = _post(staff_client, order_no="SH-0002", amount="200", mobile="13900001234")
    assert conflict.status_code == 200
    assert "SH-0002" in conflict.content.decode() and Order.objects.get(order_no="SH-0002").amount_fen == 10000


def test_tourist_order_and_bad_amount(staff_client, scene):
    response = _post(staff_client, order_no="SH-0003", amount="58.5", mobile="13812345678")
    assert "已录入订单 SH-0003：¥58.50（非会员订单）。" in _messages(response)
    bad = _post(staff_client, order_no="SH-0004", amount="0")
    assert "请输入大于 0 的金额（元，最多两位小数）。" in bad.content.decode()
    assert not Order.objects.filter(order_no="SH-0004").exists()


def test_order_from_the_member_page_uses_the_member(staff_client, scene):
    wu = scene["wu"]
    url = reverse("workbench:order_new") + f"?member={wu.pk}"
    page = staff_client.get(url).content.decode()
    assert "吴*" in page and "13600005678" not in page
    staff_client.post(url, {"member": wu.pk, "order_no": "SH-0005", "amount": "20"})
    assert Order.objects.get(order_no="SH-0005").member_id == wu.pk


def test_order_at_my_store_for_another_stores_member_does_not_open_their_page(staff_client, scene):
    response = _post(staff_client, order_no="SH-0006", amount="30", mobile="13700001234")
    assert response.redirect_chain[-1][0] == reverse("workbench:order_new")
    assert Order.objects.get(order_no="SH-0006").member_id == scene["zhou"].pk
