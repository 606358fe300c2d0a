"""The workbench's URLs (included by crm/urls_brand.py before the admin's): the staff pages under
/admin/workbench/ behind the brand admin's login, the customer's phone page under /m/join/ and the
one-time password link, which are opened without a login."""

from django.urls import path

from crm.admin_sites import brand_admin

from . import views

app_name = "workbench"

staff = brand_admin.admin_view

urlpatterns = [
    path("admin/workbench/", staff(views.home), name="home"),
    path("admin/workbench/members/<int:member_id>/", staff(views.member), name="member"),
    path("admin/workbench/members/<int:member_id>/reveal/", staff(views.member_reveal), name="member_reveal"),
    path("admin/workbench/members/<int:member_id>/adjust/", staff(views.member_adjust), name="member_adjust"),
    path("admin/workbench/members/<int:member_id>/redeem/", staff(views.member_redeem), name="member_redeem"),
    path("admin/workbench/members/<int:member_id>/tier/", staff(views.member_tier), name="member_tier"),
    path("admin/workbench/members/<int:member_id>/birthday/", staff(views.member_birthday), name="member_birthday"),
    path(
        "admin/workbench/members/<int:member_id>/coupons/issue/",
        staff(views.member_coupon_issue),
        name="member_coupon_issue",
    ),
    path("admin/workbench/orders/new/", staff(views.order_new), name="order_new"),
    path("admin/workbench/coupons/", staff(views.coupon_writeoff), name="coupon_writeoff"),
    path("admin/workbench/enrol/", staff(views.enrol_start), name="enrol_start"),
    path("admin/workbench/enrol/<int:session_id>/", staff(views.enrol), name="enrol"),
    path("admin/workbench/enrol/<int:session_id>/status/", staff(views.enrol_status), name="enrol_status"),
    path("admin/workbench/enrol/<int:session_id>/cancel/", staff(views.enrol_cancel), name="enrol_cancel"),
    path("admin/workbench/enrol/<int:session_id>/referrer/", staff(views.enrol_referrer), name="enrol_referrer"),
    path("admin/workbench/staff-logins/", staff(views.staff_logins), name="staff_logins"),
    path(
        "admin/workbench/staff-logins/<int:staff_id>/disable/",
        staff(views.staff_login_disable),
        name="staff_login_disable",
    ),
    path("m/join/<str:token>/", views.customer_enrol, name="join"),
    path("admin/password-set/<uidb64>/<token>/", views.PasswordSetView.as_view(), name="password_set"),
]
