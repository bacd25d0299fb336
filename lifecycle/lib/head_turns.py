"""Head turns from a clip's per-frame yaw: which turns a person made, in which order.

Framework-free (numpy and the standard library). The yaw of each sampled frame comes from the face
engine (``FaceQuality.yaw``: degrees, from the 5 landmarks, positive when the nose points to the
right of the frame as the camera recorded it). Turning to one's own left points the nose to the
camera image's right, so ``left`` here is a positive yaw; a browser preview is mirrored, so on the
person's screen their nose moves the way the arrow points.

Measured on the real head-turn clips of ``../shared/faces/video/headturn`` (sampled every 0.2 s):
a deliberate turn reaches 20-38 degrees from the frontal pose for at least two samples, while
talking, nodding and small wobbles stay within about 8 (one noisy sample reached 24, which is why
a single sample never counts and the series is median-smoothed first). ``TURN_DEGREES`` sits
between the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: How far from the frontal pose (degrees) a head must turn for it to count as a turn.
TURN_DEGREES = 15.0
#: How close to the frontal pose it must come back before the next turn can start.
RETURN_DEGREES = 8.0
#: A turn must last this long (seconds) beyond ``TURN_DEGREES``: one odd frame is not a turn.
MIN_TURN_SECONDS = 0.2
#: The frontal pose is the median yaw of this first part of the clip (the page asks the person to
#: look at the camera first), so a camera slightly off-axis does not read as a turn.
BASELINE_SECONDS = 1.0

DIRECTIONS = ("left", "right")


@dataclass(frozen=True)
class Turn:
    direction: str  # "left" or "right", the person's own
    start_s: float
    end_s: float
    peak_degrees: float  # from the frontal pose, signed as yaw
    peak_time_s: float


def smooth(values: Sequence[float], window: int = 3) -> np.ndarray:
    """Running median (odd ``window``): removes single-frame landmark glitches, keeps turns."""
    series = np.asarray(values, dtype=np.float64)
    if series.size < window:
        return series.copy()
    half = window // 2
    padded = np.pad(series, half, mode="edge")
    return np.array([np.median(padded[i : i + window]) for i in range(series.size)])


def frontal_baseline(times: Sequence[float], yaws: Sequence[float]) -> float:
    """The clip's frontal yaw: the median of its first ``BASELINE_SECONDS`` (0 if too short)."""
    times_a = np.asarray(times, dtype=np.float64)
    yaws_a = np.asarray(yaws, dtype=np.float64)
    if times_a.size == 0:
        return 0.0
    early = yaws_a[times_a <= times_a[0] + BASELINE_SECONDS]
    baseline = float(np.median(early)) if early.size else 0.0
    # A clip that starts already turned has no frontal start: judge it from the camera's axis.
    return baseline if abs(baseline) < TURN_DEGREES else 0.0


def head_turns(times: Sequence[float], yaws: Sequence[float]) -> list[Turn]:
    """The turns made, in order: each a stretch beyond ``TURN_DEGREES`` from the frontal pose
    lasting at least ``MIN_TURN_SECONDS``, ended by coming back within ``RETURN_DEGREES`` or by
    turning the other way. ``times`` and ``yaws`` are the frames where a face was seen."""
    if len(times) != len(yaws):
        raise ValueError("times and yaws must have the same length")
    if not len(times):
        return []
    times_a = np.asarray(times, dtype=np.float64)
    relative = smooth(yaws) - frontal_baseline(times, yaws)
    turns: list[Turn] = []
    current: dict | None = None

    def close(end_s: float) -> None:
        nonlocal current
        if current is not None and end_s - current["start"] >= MIN_TURN_SECONDS - 1e-6:
            turns.append(
                Turn(
                    direction=current["direction"],
                    start_s=current["start"],
                    end_s=end_s,
                    peak_degrees=current["peak"],
                    peak_time_s=current["peak_time"],
                )
            )
        current = None

    for time_s, angle in zip(times_a, relative, strict=True):
        direction = "left" if angle > 0 else "right"
        if current is not None and (
            abs(angle) < RETURN_DEGREES
            or (direction != current["direction"] and abs(angle) >= TURN_DEGREES)
        ):
            close(float(time_s))
        if current is None and abs(angle) >= TURN_DEGREES:
            current = {"direction": direction, "start": float(time_s), "peak": 0.0}
        if current is not None and abs(angle) > abs(current["peak"]):
            current["peak"] = float(angle)
            current["peak_time"] = float(time_s)
    if current is not None:
        close(float(times_a[-1]) + (float(times_a[-1] - times_a[-2]) if len(times_a) > 1 else 0))
    return _merge_repeats(turns)


def _merge_repeats(turns: list[Turn]) -> list[Turn]:
    """Two turns the same way in a row are one turn with a wobble (challenges never repeat)."""
    merged: list[Turn] = []
    for turn in turns:
        if merged and merged[-1].direction == turn.direction:
            last = merged[-1]
            stronger = turn if abs(turn.peak_degrees) > abs(last.peak_degrees) else last
            merged[-1] = Turn(
                last.direction,
                last.start_s,
                turn.end_s,
                stronger.peak_degrees,
                stronger.peak_time_s,
            )
        else:
            merged.append(turn)
    return merged


def follows_challenge(turns: Sequence[Turn], challenge: Sequence[str]) -> bool:
    """Exactly the turns asked for, in that order: no missing, extra or swapped turn (extra turns
    would let one clip that turns back and forth answer every challenge)."""
    return [turn.direction for turn in turns] == list(challenge)


def pose_trace(times: Sequence[float], yaws: Sequence[float], step: float) -> list[float]:
    """The clip's head motion: smoothed yaw from the frontal pose, on a grid of ``step`` seconds
    from the first face, rounded to 0.1 degree. Not biometric (any head makes one); kept for
    passed clips so a re-encoded replay of one can be told from a new take."""
    if not len(times):
        return []
    times_a = np.asarray(times, dtype=np.float64)
    relative = smooth(yaws) - frontal_baseline(times, yaws)
    grid = np.arange(times_a[0], times_a[-1] + step / 2, step)
    return [round(float(v), 1) for v in np.interp(grid, times_a, relative)]


#: Two traces are the same motion when, aligned within ``SAME_MOTION_SHIFT`` samples, their
#: turned samples differ by at most these many degrees (mean, and 90th percentile). A re-encode
#: of the same frames moves the landmarks by a few degrees; a new take shifts every turn's edges
#: by a few tenths of a second, which is 10 degrees and more on the edges.
SAME_MOTION_MEAN_DEGREES = 3.0
SAME_MOTION_P90_DEGREES = 6.0
SAME_MOTION_SHIFT = 2


def same_motion(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two pose traces (``pose_trace``) are the same recording's motion."""
    x_all = np.asarray(a, dtype=np.float64)
    y_all = np.asarray(b, dtype=np.float64)
    if not x_all.size or not y_all.size:
        return False
    if abs(x_all.size - y_all.size) > max(SAME_MOTION_SHIFT, 0.1 * max(x_all.size, y_all.size)):
        return False
    for shift in range(-SAME_MOTION_SHIFT, SAME_MOTION_SHIFT + 1):
        x = x_all[max(0, shift) :]
        y = y_all[max(0, -shift) :]
        n = min(x.size, y.size)
        x, y = x[:n], y[:n]
        turned = (np.abs(x) >= RETURN_DEGREES) | (np.abs(y) >= RETURN_DEGREES)
        if turned.sum() < 3:
            continue
        diff = np.abs(x - y)[turned]
        if (
            diff.mean() <= SAME_MOTION_MEAN_DEGREES
            and np.percentile(diff, 90) <= SAME_MOTION_P90_DEGREES
        ):
            return True
    return False
