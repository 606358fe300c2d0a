"""The scan page on the brand host (crm/urls_brand.py includes it at the root: /s/<serial>)."""

from django.urls import URLPattern, path

from . import member, views

app_name = "scancodes"

urlpatterns: list[URLPattern] = [
    path("s/<str:serial>", views.scan_page, name="scan"),
    # 我的扫码 behind the member centre's sign-in (scancodes/member.py); before membercentre.urls.
    path("m/scans/", member.my_scans, name="my-scans"),
]
