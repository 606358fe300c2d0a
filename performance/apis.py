"""Partner API: an order's staff credit (who and why), as decided when the order arrived."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.error_codes import api_error
from crm.api.models import Scope
from crm.api.views import BrandApiView
from members.models import Order, SalesChannel

from .selectors import NO_CREDIT, order_credits
from .serializers import OrderCreditOutSerializer


class OrderCreditApi(BrandApiView):
    required_scopes = {"GET": Scope.ORDERS_WRITE}

    @extend_schema(
        operation_id="orders_credit_retrieve",
        summary="Which staff member got the order's credit, and why",
        description=(
            "Decided in the order's transaction by the brand's attribution rule in force then (serving staff "
            "on a store order, exclusive staff at order time, last touch within its window), never recomputed; "
            "refunds take back the credit pro rata. A staff member's own purchase credits nobody."
        ),
        parameters=[
            OpenApiParameter("channel", OpenApiTypes.STR, OpenApiParameter.PATH, enum=SalesChannel.values),
            OpenApiParameter("order_no", OpenApiTypes.STR, OpenApiParameter.PATH),
        ],
        responses={200: OrderCreditOutSerializer},
        tags=["orders"],
    )
    def get(self, request: Request, channel: str, order_no: str) -> Response:
        # PostgreSQL refuses a NUL in text: no such channel or order, not a database error.
        if channel not in SalesChannel.values or "\x00" in order_no:
            raise api_error("not_found", status=404)
        order_id = Order.objects.filter(channel=channel, order_no=order_no).values_list("pk", flat=True).first()
        if order_id is None:
            raise api_error("not_found", status=404)
        credit = order_credits(order_ids=[order_id]).get(order_id)
        body = {
            "channel": channel,
            "order_no": order_no,
            "credited": bool(credit and credit.staff_id),
            "staff_id": credit.staff_id if credit else None,
            "staff_name": credit.staff_name if credit else "",
            "basis": credit.basis if credit else "",
            "explanation": credit.text if credit else NO_CREDIT,
            "credited_fen": credit.credited_fen if credit else 0,
            "refunded_fen": credit.refunded_fen if credit else 0,
            "rule_id": credit.rule_id if credit else None,
        }
        return Response(OrderCreditOutSerializer(body).data)
