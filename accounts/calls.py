"""The observer of a credential's calls to OKX (the client's on_call): every failed call goes to the
history (ApiError) and moves the credential's health, every success clears it, and every call
counts in /metrics. Built by the key check (accounts/keycheck.py) and the refresh
(snapshots/refresh.py).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from accounts.callstats import record_call
from accounts.history import ApiError, ErrorAcknowledgement
from accounts.models import Account, Credential
from accounts.okx import is_successful_signed_call
from okxapi import CallRecord

logger = logging.getLogger(__name__)


class CallRecorder:
    """An on_call observer for Credential.build_client. `account` is the account being read (a
    sub-account read through its master's credential).

    batch=False (key checks): each success clears grace/failing at once, and build_client stamps
    last_success_at. batch=True (a refresh; its client is built with stamp_successes=False):
    successes are held and written once by flush(), last_success_at at the latest of them, then
    the recovery; a failure flushes first, so health moves in the order the calls happened.
    Found by bench/refresh.py: per call, that was 6 of a refresh's ~16 queries."""

    def __init__(self, account: Account, credential: Credential | None, *, batch: bool = False) -> None:
        self.account = account
        self.credential = credential
        self.batch = batch
        self._success_at: datetime | None = None
        self._answered: set[str] = set()  # endpoints that succeeded: their acknowledgements end

    def __call__(self, record: CallRecord) -> None:
        record_call(record)  # the /metrics counters (accounts/callstats.py)
        if record.error is not None:
            self.flush()
            ApiError.record(self.account.pk, self.credential.pk if self.credential else None, record.error)
            if self.credential is not None:
                self.credential.note_failure(record.error)
            return
        self._answered.add(record.endpoint)
        if not self.batch:
            self._end_acknowledgements()
        if self.credential is not None and is_successful_signed_call(record):
            if self.batch:
                self._success_at = timezone.now()
            else:
                self.credential.note_success()

    def flush(self) -> None:
        """Write the held successes (batch mode). Like a failing observer inside the client,
        a failure here is logged and never fails the refresh."""
        self._end_acknowledgements()
        at, self._success_at = self._success_at, None
        if at is None or self.credential is None:
            return
        try:
            self.credential.record_success(at)
            self.credential.note_success()
        except Exception:
            logger.exception("could not record the successful calls of credential %s", self.credential.pk)

    def _end_acknowledgements(self) -> None:
        """A kind of error recovers when an endpoint it failed on answers: its acknowledgement
        ends (accounts.history.ErrorAcknowledgement). Logged, never raised, like flush()."""
        answered, self._answered = self._answered, set()
        try:
            ErrorAcknowledgement.objects.recover(self.account.pk, answered)
        except Exception:
            logger.exception("could not end the error acknowledgements of account %s", self.account.pk)
