"""The verdict rule (matching.lib.verdict_rule): pure functions, no database, no model."""

from __future__ import annotations

import pytest

from matching.lib.verdict_rule import (
    ImpostorCalibration,
    RuleSettings,
    decide,
    registry_capacity,
    thresholds_for,
)

# The normal fit through the two published false-match rates of dlib's model (4.7e-3 at 0.60,
# 4.7e-2 at 0.68), with a narrower fit for the mean of 2 and 3 templates.
CALIBRATION = ImpostorCalibration(
    mean=0.8252, sd=0.0867, fused=((0.8252, 0.078), (0.8252, 0.074)), source="test"
)


def test_the_calibration_reproduces_the_published_false_match_rates():
    assert CALIBRATION.false_match_rate(0.60) == pytest.approx(4.7e-3, rel=0.02)
    assert CALIBRATION.false_match_rate(0.68) == pytest.approx(4.7e-2, rel=0.02)
    assert CALIBRATION.distance_at(4.7e-3) == pytest.approx(0.60, abs=1e-3)


def test_thresholds_tighten_as_the_registry_grows_and_never_pass_the_engine_thresholds():
    bars = [thresholds_for(n, CALIBRATION) for n in (1, 10, 100, 300, 600, 5000)]
    blocks = [b.block_distance for b in bars]
    reviews = [b.review_distance for b in bars]
    assert blocks == sorted(blocks, reverse=True)
    assert reviews == sorted(reviews, reverse=True)
    assert blocks[0] <= 0.6 + 1e-9 and reviews[0] <= 0.68 + 1e-9
    assert all(b < r for b, r in zip(blocks, reviews, strict=True))
    for bar in bars:  # the expected false blocks per stranger's face stay at the target
        assert bar.candidates * CALIBRATION.false_match_rate(bar.block_distance) <= 0.005 + 1e-9


def test_the_same_distance_blocks_in_a_small_registry_and_not_in_a_large_one():
    distances = {"alice": [0.50]}
    small = decide(distances, candidates=10, calibration=CALIBRATION, face_px=200)
    mid = decide(distances, candidates=300, calibration=CALIBRATION, face_px=200)
    large = decide(distances, candidates=5000, calibration=CALIBRATION, face_px=200)
    assert (small.match, small.person_id) == ("match", "alice")
    assert (mid.match, mid.person_id) == ("possible", "alice")
    assert "evidence below the block bar for this registry size" in mid.evidence["review_because"]
    assert (large.match, large.person_id) == ("none", None)


def test_a_close_face_blocks_at_several_hundred_registered():
    verdict = decide({"alice": [0.40]}, candidates=600, calibration=CALIBRATION, face_px=200)
    assert verdict.match == "match"
    assert verdict.evidence["expected_false_candidates"] <= 0.005


def test_nothing_returned_is_none():
    assert decide({}, candidates=600, calibration=CALIBRATION).match == "none"


def test_a_block_needs_a_clear_margin_over_the_runner_up():
    clear = decide({"alice": [0.40], "bob": [0.55]}, candidates=50, calibration=CALIBRATION)
    close = decide({"alice": [0.40], "bob": [0.42]}, candidates=50, calibration=CALIBRATION)
    assert (clear.match, clear.person_id) == ("match", "alice")
    assert (close.match, close.person_id) == ("possible", "alice")
    assert "another person is almost as close" in close.evidence["review_because"]


def test_several_agreeing_templates_strengthen_the_evidence():
    one = decide({"alice": [0.48]}, candidates=300, calibration=CALIBRATION)
    agreeing = decide({"alice": [0.48, 0.49, 0.50]}, candidates=300, calibration=CALIBRATION)
    assert one.match == "possible"
    assert (agreeing.match, agreeing.evidence["templates_agreeing"]) == ("match", 3)
    assert agreeing.evidence["false_candidate_rate"] < one.evidence["false_candidate_rate"]


def test_templates_that_disagree_do_not_weaken_a_close_one_much():
    # The nearest template alone still decides, at the price of having looked at two tests.
    alone = decide({"alice": [0.40]}, candidates=300, calibration=CALIBRATION)
    with_far = decide({"alice": [0.40, 0.66, 0.67]}, candidates=300, calibration=CALIBRATION)
    assert alone.match == with_far.match == "match"
    assert with_far.evidence["templates_agreeing"] == 1


@pytest.mark.parametrize(
    ("face_px", "face_quality", "reason"),
    [(48, 0.8, "face too small to block on"), (200, 0.1, "face quality too poor to block on")],
)
def test_small_or_poor_faces_are_only_reviewed(face_px, face_quality, reason):
    verdict = decide(
        {"alice": [0.35]},
        candidates=10,
        calibration=CALIBRATION,
        face_px=face_px,
        face_quality=face_quality,
    )
    assert (verdict.match, verdict.person_id) == ("possible", "alice")
    assert reason in verdict.evidence["review_because"]


def test_never_looser_than_the_engine_threshold_even_with_one_candidate():
    verdict = decide({"alice": [0.62]}, candidates=1, calibration=CALIBRATION)
    assert verdict.match == "possible"
    assert decide({"alice": [0.70]}, candidates=1, calibration=CALIBRATION).match == "none"


def test_capacity_shrinks_as_genuine_faces_get_harder_and_grows_with_laxer_targets():
    easy = [0.30, 0.35, 0.38, 0.40, 0.42, 0.45]
    hard = [d + 0.05 for d in easy]
    assert registry_capacity(CALIBRATION, easy) > registry_capacity(CALIBRATION, hard) > 0
    strict = registry_capacity(CALIBRATION, easy, settings=RuleSettings(block_target=0.001))
    lax = registry_capacity(CALIBRATION, easy, settings=RuleSettings(block_target=0.01))
    assert strict < registry_capacity(CALIBRATION, easy) < lax
    more_identified = registry_capacity(CALIBRATION, easy, min_identified=0.9)
    assert more_identified < registry_capacity(CALIBRATION, easy, min_identified=0.5)


def test_capacity_is_zero_when_genuine_faces_are_beyond_the_engine_threshold():
    assert registry_capacity(CALIBRATION, [0.62, 0.65, 0.7]) == 0


def test_at_capacity_the_block_bar_still_identifies_the_share_asked_for():
    genuine = [0.30, 0.35, 0.38, 0.40, 0.42, 0.45, 0.47, 0.50, 0.52, 0.55]
    capacity = registry_capacity(CALIBRATION, genuine, min_identified=0.6)
    at = thresholds_for(capacity, CALIBRATION).block_distance
    beyond = thresholds_for(capacity * 2, CALIBRATION).block_distance
    assert sum(d <= at for d in genuine) >= 6
    assert sum(d <= beyond for d in genuine) < 6
