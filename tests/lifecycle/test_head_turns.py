"""The pure head-turn logic on synthetic yaw series: turns in order, glitches ignored, and a
re-encoded copy's motion told from a new take's."""

from __future__ import annotations

import numpy as np

from lifecycle.lib.head_turns import follows_challenge, head_turns, pose_trace, same_motion


def series(*segments: tuple[float, float], step: float = 0.125):
    """(seconds, yaw) segments -> times and yaws, each segment a ramp to its yaw and back."""
    times, yaws, t = [], [], 0.0
    for seconds, yaw in segments:
        n = int(seconds / step)
        for i in range(n):
            times.append(t)
            yaws.append(yaw * np.sin(np.pi * i / max(1, n - 1)) if yaw else 0.0)
            t += step
    return times, yaws


def test_turns_are_found_in_order_with_the_persons_own_directions():
    times, yaws = series((1.0, 0), (1.0, 25), (0.5, 0), (1.0, -25), (0.5, 0))
    turns = head_turns(times, yaws)
    assert [t.direction for t in turns] == ["left", "right"]
    assert follows_challenge(turns, ["left", "right"])
    assert not follows_challenge(turns, ["right", "left"])
    assert not follows_challenge(turns, ["left", "right", "left"])


def test_small_movements_and_a_single_glitch_are_not_turns():
    times, yaws = series((1.0, 0), (1.0, 10), (1.0, -9), (1.0, 0))
    yaws[20] = 30.0  # one landmark glitch
    assert head_turns(times, yaws) == []


def test_a_camera_slightly_off_axis_does_not_read_as_a_turn():
    times, yaws = series((1.0, 0), (1.0, 25), (1.0, 0))
    shifted = [y + 10 for y in yaws]
    assert [t.direction for t in head_turns(times, shifted)] == ["left"]


def test_the_same_motion_re_measured_is_recognised_and_a_new_take_is_not():
    times, yaws = series((1.0, 0), (1.0, 25), (0.5, 0), (1.0, -25), (0.5, 0))
    trace = pose_trace(times, yaws, 0.125)
    noisy = [
        y + n for y, n in zip(yaws, np.random.default_rng(1).normal(0, 1.0, len(yaws)), strict=True)
    ]
    assert same_motion(trace, pose_trace(times, noisy, 0.125))
    later_times, later_yaws = series((1.3, 0), (0.8, 28), (0.8, 0), (1.2, -22), (0.5, 0))
    assert not same_motion(trace, pose_trace(later_times, later_yaws, 0.125))
