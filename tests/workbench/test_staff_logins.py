"""Staff logins: a brand admin creates a staff member's login (role and store) in one form; the new
person sets their own password through a one-time link; the admin can disable the login. Store
roles cannot open the form."""

import re

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from members.models import Staff
from members.roles import STORE_STAFF
from tests.conftest import brand_host


def _create(admin_client_a, store, **extra):
    data = {"staff_name": "钱新人", "store": store.pk, "role": STORE_STAFF, "username": "qian@alpha.example", **extra}
    return admin_client_a.post(reverse("workbench:staff_logins"), data)


def test_admin_creates_a_login_and_the_person_sets_their_password_once(admin_client_a, scene):
    response = _create(admin_client_a, scene["store_a"])
    body = response.content.decode()
    assert response.status_code == 200 and "已开通 qian@alpha.example" in body
    link = re.search(r'value="(http://[^"]+/admin/password-set/[^"]+)"', body).group(1)
    staff = Staff.objects.get(name="钱新人")
    assert staff.store_id == scene["store_a"].pk and staff.user.username == "qian@alpha.example"
    assert not staff.user.has_usable_password()
    assert list(staff.user.groups.values_list("name", flat=True)) == [STORE_STAFF]

    person = Client(HTTP_HOST=brand_host("alpha"))
    path = link.split("alpha.localhost", 1)[-1] if "alpha.localhost" in link else "/" + link.split("/", 3)[3]
    form = person.get(path, follow=True)
    assert "设置登录密码" in form.content.decode()
    set_url = form.redirect_chain[-1][0] if form.redirect_chain else path
    done = person.post(set_url, {"new_password1": "Qian-Store-2026!", "new_password2": "Qian-Store-2026!"})
    assert done.status_code == 302
    login = person.post(reverse("admin:login"), {"username": "qian@alpha.example", "password": "Qian-Store-2026!"})
    assert login.status_code == 302
    assert person.get(reverse("admin:index"))["Location"] == reverse("workbench:home")
    # Used once: the link is dead now.
    assert "该链接已失效" in Client(HTTP_HOST=brand_host("alpha")).get(path, follow=True).content.decode()


def test_duplicate_username_is_refused_and_nothing_created(admin_client_a, scene):
    _create(admin_client_a, scene["store_a"])
    again = _create(admin_client_a, scene["store_a"], staff_name="孙另一人")
    assert "已关联员工" in again.content.decode()
    assert not Staff.objects.filter(name="孙另一人").exists()


def test_admin_disables_a_login(admin_client_a, scene):
    _create(admin_client_a, scene["store_a"])
    staff = Staff.objects.get(name="钱新人")
    admin_client_a.post(reverse("workbench:staff_login_disable", args=[staff.pk]))
    assert not get_user_model().objects.get(pk=staff.user_id).is_active


def test_store_roles_cannot_open_staff_logins(staff_client, manager_client):
    assert staff_client.get(reverse("workbench:staff_logins")).status_code == 403
    assert manager_client.get(reverse("workbench:staff_logins")).status_code == 403
