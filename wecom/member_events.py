"""WeCom's reactions to member events (members.hooks), registered in WecomConfig.ready().

Both hand the work to a task after commit: linking a prospect or marking a tag in WeCom must
never make an enrolment or a tagging fail (the hourly prospect job catches anything missed)."""

from crm.celery import send_on_commit
from members.hooks import IdentitiesAdded, TagsChanged
from members.models import IdentityKind, Tag

from .channels import member_tags_wecom_sync
from .models import WecomProspect
from .tasks import prospects_link_member_task


def link_prospects_of_new_identities(event: IdentitiesAdded) -> None:
    if IdentityKind.WECHAT_UNIONID not in event.kinds:
        return
    if not WecomProspect.objects.filter(linked_member__isnull=True).exists():
        return

    send_on_commit(prospects_link_member_task, event.member_id)


def mirror_tag_changes(event: TagsChanged) -> None:
    member_tags_wecom_sync(member_ids=event.member_ids, tag=Tag(pk=event.tag_id), added=event.added)
