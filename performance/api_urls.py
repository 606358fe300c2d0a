from django.urls import URLPattern, path

from crm.api.urls import V1

from .apis import OrderCreditApi

urlpatterns: list[URLPattern] = [
    path(V1 + "orders/<str:channel>/<str:order_no>/credit", OrderCreditApi.as_view(), name="api-order-credit"),
]
