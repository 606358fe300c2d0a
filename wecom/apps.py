from django.apps import AppConfig


class WecomConfig(AppConfig):
    name = "wecom"
    label = "wecom"
    verbose_name = "企业微信"

    def ready(self) -> None:
        from members.hooks import on_identities_added, on_tags_changed, source_code_names

        from .member_events import link_prospects_of_new_identities, mirror_tag_changes
        from .selectors import contact_way_name

        on_identities_added(link_prospects_of_new_identities)
        # It only queues the mirroring once the caller's change commits (send_on_commit): nothing of
        # it belongs in the caller's transaction.
        on_tags_changed(mirror_tag_changes, needs_transaction=lambda: False)
        # The member page names a member's source by the channel code that carries it.
        source_code_names.connect(contact_way_name)
