"""Following faces from one sampled frame to the next: pure geometry, no model.

A detection continues a track when its box overlaps the track's last box (IoU) or, for a face
that moved or changed size between samples, when its centre is close to the last one relative
to the face's size and the sizes are alike. Pairs are taken greedily, best first, each
detection and each track at most once. Embedding checks (identity switches at a cut,
re-identification after a gap) are the analysis's job, not this module's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from matching.engine.base import Box

# Overlap at or above this continues a track outright.
MIN_IOU = 0.25
# Otherwise the centres must be within this many face widths, sizes within this ratio.
MAX_CENTRE_SHIFT = 0.75
MAX_SIZE_RATIO = 1.8


def centre_shift(a: Box, b: Box) -> float:
    """Distance between the centres, in widths of the larger face."""
    ax, ay = (a.left + a.right) / 2, (a.top + a.bottom) / 2
    bx, by = (b.left + b.right) / 2, (b.top + b.bottom) / 2
    return math.hypot(ax - bx, ay - by) / max(a.width, b.width, 1)


def affinity(last: Box, detection: Box) -> float:
    """How well ``detection`` continues a track last seen at ``last``: 0 (not at all) to 2."""
    iou = last.iou(detection)
    if iou >= MIN_IOU:
        return 1.0 + iou
    ratio = max(last.area, detection.area) / max(min(last.area, detection.area), 1)
    shift = centre_shift(last, detection)
    if shift <= MAX_CENTRE_SHIFT and ratio <= MAX_SIZE_RATIO**2:
        return 1.0 - shift / MAX_CENTRE_SHIFT * 0.99
    return 0.0


def associate(last_boxes: Sequence[Box], detections: Sequence[Box]) -> dict[int, int]:
    """Greedy one-to-one assignment: ``{detection index: track index}``, best pairs first."""
    if not last_boxes or not detections:
        return {}
    scores = np.array([[affinity(last, det) for last in last_boxes] for det in detections])
    pairs: dict[int, int] = {}
    used_tracks: set[int] = set()
    for flat in np.argsort(-scores, axis=None, kind="stable"):
        det, track = divmod(int(flat), len(last_boxes))
        if scores[det, track] <= 0:
            break
        if det in pairs or track in used_tracks:
            continue
        pairs[det] = track
        used_tracks.add(track)
    return pairs


def scale_box(box: Box, factor: float, *, width: int, height: int) -> Box:
    """A box found on a shrunk frame, in the full frame's pixels (clipped to the frame)."""
    if factor == 1.0:
        return box
    return Box(
        top=max(0, round(box.top * factor)),
        right=min(width - 1, round(box.right * factor)),
        bottom=min(height - 1, round(box.bottom * factor)),
        left=max(0, round(box.left * factor)),
    )


def frame_change(previous: np.ndarray | None, current: np.ndarray) -> float:
    """Mean absolute difference (0..255) of two tiny greyscale thumbnails: high at a cut."""
    if previous is None or previous.shape != current.shape:
        return 0.0
    return float(np.mean(np.abs(previous.astype(np.int16) - current.astype(np.int16))))


def thumbnail(rgb: np.ndarray, *, cells: tuple[int, int] = (9, 16)) -> np.ndarray:
    """A ``cells`` (rows, columns) greyscale thumbnail by block means; robust to noise."""
    rows, cols = cells
    height, width = rgb.shape[:2]
    grey = rgb.mean(axis=2)
    if height < rows or width < cols:
        return grey
    trimmed = grey[: height - height % rows, : width - width % cols]
    return trimmed.reshape(rows, trimmed.shape[0] // rows, cols, trimmed.shape[1] // cols).mean(
        axis=(1, 3)
    )
