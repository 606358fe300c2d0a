from django.apps import AppConfig


class WecomConfig(AppConfig):
    name = "wecom"
    label = "wecom"
    verbose_name = "企业微信"

    def ready(self) -> None:
        from members.hooks import on_identities_added, on_tags_changed

        from .member_events import link_prospects_of_new_identities, mirror_tag_changes

        on_identities_added(link_prospects_of_new_identities)
        # It only queues the mirroring once the caller's change commits (send_on_commit): nothing of
        # it belongs in the caller's transaction.
        on_tags_changed(mirror_tag_changes, needs_transaction=lambda: False)
