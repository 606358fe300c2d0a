from django.urls import URLPattern, URLResolver, path

from . import views

app_name = "wecom"

urlpatterns: list[URLPattern | URLResolver] = [
    path("callback/", views.callback, name="callback"),
]
