"""What a locked-out login sees: the admin login page with the reason in Chinese (429), instead of
axes' bare English text. axes calls `lockout_response` (AXES_LOCKOUT_CALLABLE) from its middleware
after refusing the attempt; nothing was authenticated."""

from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from crm.admin_sites import brand_admin, platform_admin

LOCKED_OUT_STATUS = 429


def lockout_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def lockout_message(*, platform: bool) -> str:
    who = "其他平台管理员" if platform else "品牌管理员"
    return f"登录失败次数过多，账号已临时锁定，请 {lockout_minutes()} 分钟后再试或联系{who}解锁。"


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    brand = getattr(request, "tenant", None)
    platform = bool(brand is not None and brand.is_platform)
    site = platform_admin if platform else brand_admin
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    context = {
        **site.each_context(request),
        "title": "登录",
        "subtitle": None,
        "app_path": request.get_full_path(),
        # An unbound form: validating the posted one would try the password once more.
        "form": AdminAuthenticationForm(request, initial={"username": username}),
        REDIRECT_FIELD_NAME: request.POST.get(REDIRECT_FIELD_NAME) or reverse("admin:index"),
        "lockout_message": lockout_message(platform=platform),
    }
    return render(request, "logins/locked_out.html", context, status=LOCKED_OUT_STATUS)
