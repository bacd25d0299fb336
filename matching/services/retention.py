"""Retention of check detail: after ``CHECK_DETAIL_RETENTION_DAYS`` a check keeps what it
proves (verdict, time, key, counts, media digest, signed receipt) and drops its per-face detail
(boxes, distances, references, opt-out and consent lines); review decisions stay.

``check_details_drop`` runs daily by Celery beat (``matching.tasks.check_details_drop``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from matching.models import FINAL_STATUSES, Check

logger = logging.getLogger(__name__)

# Result keys a check keeps for good: what its receipt signs, and how many faces it saw.
KEPT_RESULT_KEYS = ("verdict", "category", "faces_found", "media_sha256", "receipt")
BATCH_SIZE = 500


def check_detail_strip(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """``result`` without its per-face detail (a check's faces become an empty list)."""
    if result is None:
        return None
    kept = {key: result[key] for key in KEPT_RESULT_KEYS if key in result}
    kept["faces"] = []
    return kept


def check_details_drop(*, now: datetime | None = None) -> int:
    """Strip the per-face detail of finished checks older than the retention period.

    Returns how many checks were stripped. Works in batches so a first run on a large history
    holds no long lock.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CHECK_DETAIL_RETENTION_DAYS)
    dropped = 0
    while True:
        with transaction.atomic():
            batch = list(
                Check.objects.select_for_update(skip_locked=True)
                .filter(
                    created_at__lt=cutoff,
                    detail_dropped_at__isnull=True,
                    status__in=FINAL_STATUSES,
                )
                .only("pk", "result")[:BATCH_SIZE]
            )
            for check in batch:
                check.result = check_detail_strip(check.result)
                check.detail_dropped_at = now
            Check.objects.bulk_update(batch, ["result", "detail_dropped_at"])
        dropped += len(batch)
        if len(batch) < BATCH_SIZE:
            break
    logger.info("check detail retention dropped=%d", dropped)
    return dropped
