"""The member-facing side of staff performance: a staff member's share link or poster, opened by
a member (or someone who signs in or enrols afterwards in the same session)."""

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_GET

from membercentre.auth import current_member

from .models import ShareLink
from .services import share_link_open, share_target_valid


@require_GET
def share_open(request: HttpRequest, token: str) -> HttpResponse:
    """/m/s/<token>/: note the touch (now, or when the member signs in) and open the link's page."""
    link = ShareLink.objects.filter(token=token).first()
    if link is None:
        raise Http404("链接无效")
    member = current_member(request)
    share_link_open(link=link, member_id=member.pk if member else None, session=request.session)
    # The target was checked when the link was made; checked again, it can never leave the brand's host.
    return HttpResponseRedirect(link.target if share_target_valid(link.target) else "/m/")
