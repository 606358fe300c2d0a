"""Partner endpoints of webhook subscriptions (scope webhooks:manage)."""

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.error_codes import api_error
from crm.api.models import IdempotencyRecord, Scope
from crm.api.views import BrandApiView
from members.hooks import CAUSES

from .models import WebhookSubscription
from .serializers import (
    WebhookSubscriptionCreatedSerializer,
    WebhookSubscriptionInSerializer,
    WebhookSubscriptionListSerializer,
    WebhookSubscriptionOutSerializer,
)
from .services import webhook_subscription_create, webhook_subscription_delete

WEBHOOK_EVENTS_DESCRIPTION = (
    "Deliveries are POSTed as `{id, event, created_at, data}`, signed in `X-CRM-Signature`, retried "
    "with backoff; dedupe on `X-CRM-Delivery`. Every change is delivered whatever made it (partner API, "
    "brand admin, nightly jobs, merges, campaigns), once per change; a replayed request sends nothing.\n\n"
    "`data` by event:\n"
    "- `member.enrolled`: `member_no`, `enrolled_at`, `channel`, `tier` (code or null)\n"
    "- `member.tier_changed`: `member_no`, `from_tier`, `to_tier` (codes or null), `cause`\n"
    "- `points.changed`: `member_no`, `delta` (change of balance + pending − debt), `balance`, "
    "`pending`, `debt` (after the change), `cause`\n"
    "- `consent.withdrawn`: `member_no`, `purposes`, `reason` (`withdrawn` / `erased`), `at`\n\n"
    "`cause` values:\n" + "\n".join(f"- `{cause}`: {meaning}" for cause, meaning in CAUSES.items())
)


class WebhookListApi(BrandApiView):
    required_scopes = {"GET": Scope.WEBHOOKS_MANAGE, "POST": Scope.WEBHOOKS_MANAGE}

    @extend_schema(operation_id="webhooks_list", responses={200: WebhookSubscriptionListSerializer}, tags=["webhooks"])
    def get(self, request: Request) -> Response:
        subscriptions = WebhookSubscription.objects.filter(partner=self.partner, deleted_at__isnull=True)
        return Response({"results": WebhookSubscriptionOutSerializer(subscriptions, many=True).data})

    def replay_is_gone(self, record: IdempotencyRecord) -> bool:
        try:
            public_id = uuid.UUID(record.headers.get("Location", "").rsplit("/", 1)[-1])
        except ValueError:
            return False
        return not WebhookSubscription.objects.filter(
            partner=self.partner, public_id=public_id, deleted_at__isnull=True
        ).exists()

    @extend_schema(
        operation_id="webhooks_create",
        summary="Subscribe to events",
        description=WEBHOOK_EVENTS_DESCRIPTION,
        request=WebhookSubscriptionInSerializer,
        responses={201: WebhookSubscriptionCreatedSerializer},
        tags=["webhooks"],
    )
    def post(self, request: Request) -> Response:
        data = self.validated_data(WebhookSubscriptionInSerializer)
        created = webhook_subscription_create(partner=self.partner, url=data["url"], events=data["events"])
        body = WebhookSubscriptionCreatedSerializer(created.subscription).data
        body["secret"] = created.secret
        return Response(body, status=201, headers={"Location": f"/api/v1/webhooks/{created.subscription.public_id}"})


class WebhookDetailApi(BrandApiView):
    required_scopes = {"GET": Scope.WEBHOOKS_MANAGE, "DELETE": Scope.WEBHOOKS_MANAGE}

    def subscription(self, subscription_id: str) -> WebhookSubscription:
        # Another partner's subscription is as absent as a made-up id.
        try:
            public_id = uuid.UUID(subscription_id)
        except ValueError as exc:
            raise api_error("not_found", status=404) from exc
        subscription = WebhookSubscription.objects.filter(
            partner=self.partner, public_id=public_id, deleted_at__isnull=True
        ).first()
        if subscription is None:
            raise api_error("not_found", status=404)
        return subscription

    @extend_schema(
        operation_id="webhooks_retrieve", responses={200: WebhookSubscriptionOutSerializer}, tags=["webhooks"]
    )
    def get(self, request: Request, subscription_id: str) -> Response:
        return Response(WebhookSubscriptionOutSerializer(self.subscription(subscription_id)).data)

    @extend_schema(
        operation_id="webhooks_delete", responses={204: OpenApiResponse(description="Deleted")}, tags=["webhooks"]
    )
    def delete(self, request: Request, subscription_id: str) -> Response:
        subscription = self.subscription(subscription_id)
        webhook_subscription_delete(partner=self.partner, public_id=subscription.public_id)
        return Response(status=204)
