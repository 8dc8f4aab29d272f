"""The hooks that have no other place: login success and failure and sign-out go to the audit
trail (Django's auth signals), and a key is checked as soon as it can be (issue 18: a key is
never "unchecked" for a whole KEY_HEALTH_INTERVAL_SECONDS):

- a credential that becomes active (added or rotated in) is checked once its transaction commits;
- when beat starts (Celery's beat_init: beat runs exactly once, so this is once per start, not per
  worker or pool process), every active key is checked, instead of waiting for the first
  scheduled check one interval later. Workers that start later pick the message up.

Both only enqueue (ids in, JSON; accounts.tasks does the work). A broker that does not answer is
logged and skipped: the add form must still work, and the scheduled check comes anyway.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from celery.signals import beat_init
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from kombu.exceptions import KombuError
from redis import RedisError

from accounts import sso
from accounts.audit import AuditAction, AuditEvent
from accounts.models import Credential, CredentialStatus

logger = logging.getLogger(__name__)

USERNAME_MAX_LENGTH = 150
# What a broker that does not answer raises when a task is published.
PUBLISH_ERRORS = (KombuError, RedisError, OSError)


@receiver(user_logged_in, dispatch_uid="accounts.audit_login_success")
def audit_login_success(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    # A single sign-on names itself and how it found the user (accounts.sso); a password, "".
    AuditEvent.record(
        AuditAction.LOGIN_SUCCESS, request=request, actor=user, detail=sso.sign_in_detail(request)
    )


@receiver(user_logged_out, dispatch_uid="accounts.audit_logout")
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Sign-out, for password and single sign-on sessions alike (nobody signed in: no row)."""
    if user is not None:
        AuditEvent.record(
            AuditAction.LOGOUT, request=request, actor=user, detail=sso.sign_out_detail(request)
        )


@receiver(user_login_failed, dispatch_uid="accounts.audit_login_failure")
def audit_login_failure(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Django has already masked the password in `credentials`; only the user name is kept.
    username = str(credentials.get("username", ""))[:USERNAME_MAX_LENGTH]
    AuditEvent.record(AuditAction.LOGIN_FAILURE, request=request, actor_name=username)


@receiver(post_save, sender=Credential, dispatch_uid="accounts.check_new_key")
def check_new_key(sender: Any, instance: Credential, created: bool, **kwargs: Any) -> None:
    """A credential saved as active for the first time (Account.install_credential: an added
    account, a rotation) is checked by a worker right after the transaction commits (a worker
    could not see the row before)."""
    if created and instance.status == CredentialStatus.ACTIVE and not kwargs.get("raw"):
        transaction.on_commit(functools.partial(enqueue_key_check, instance.pk))


def enqueue_key_check(credential_id: int) -> bool:
    """Queue accounts.tasks.check_key(credential_id); False (logged) when the broker does not take
    it. Expires like the scheduled checks, so a message no worker took goes stale, not late."""
    from accounts.tasks import check_key  # the tasks module imports the models: late, no cycle

    try:
        check_key.apply_async((credential_id,), expires=settings.KEY_HEALTH_INTERVAL_SECONDS * 0.9)
    except PUBLISH_ERRORS as error:
        logger.warning(
            "credential %s: the first key check could not be queued (%s); the scheduled check will run it",
            credential_id,
            type(error).__name__,
        )
        return False
    return True


@beat_init.connect(dispatch_uid="accounts.check_keys_at_start", weak=False)
def check_keys_at_start(sender: Any = None, **kwargs: Any) -> None:
    """Beat starts: queue one check of every active key (accounts.tasks.check_all_keys)."""
    from accounts.tasks import check_all_keys

    try:
        check_all_keys.apply_async(expires=settings.KEY_HEALTH_INTERVAL_SECONDS * 0.9)
    except PUBLISH_ERRORS as error:
        logger.warning("the key check at start could not be queued (%s)", type(error).__name__)
