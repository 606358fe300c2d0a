from celery import shared_task


@shared_task(name="membercentre.codes_purge")
def codes_purge() -> int:
    from .services.codes import member_codes_purge

    return member_codes_purge()
