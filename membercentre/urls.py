"""The member centre's pages, on the brand's host under /m/ (crm/urls_brand.py)."""

from django.urls import URLPattern, path

from . import views

app_name = "membercentre"

urlpatterns: list[URLPattern] = [
    path("", views.home, name="home"),
    path("login/", views.login, name="login"),
    path("login/wechat/", views.wechat_start, name="wechat"),
    path("login/wechat/callback/", views.wechat_callback, name="wechat-callback"),
    path("logout/", views.logout, name="logout"),
    path("bind/", views.bind, name="bind"),
    path("join/", views.join, name="join"),
    path("code/", views.code_fragment, name="code"),
    path("history/", views.history, name="history"),
    path("coupons/", views.coupons, name="coupons"),
    path("checkin/", views.checkin, name="checkin"),
    path("invites/", views.invites, name="invites"),
    path("invites/poster.png", views.invite_poster_png, name="invite-poster"),
    path("birthday/", views.birthday, name="birthday"),
    path("me/preferences/", views.preferences, name="preferences"),
    path("link/<str:token>/", views.link, name="link"),
]
