"""The decision rule for one probe face against the opted-out people of a check.

Framework-free (numpy and the standard library only), so it can be unit-tested alone and used by
the matching service, benchmarks and the operator's capacity warning alike.

Why a rule and not a fixed threshold: a fixed distance threshold has a fixed *per-pair* false-match
rate ``FMR(t)``, and a stranger is compared with every candidate, so the chance that some candidate
falls under it grows as ``1 - (1 - FMR(t))^N``. With dlib's model, ``FMR(0.60) = 4.7e-3``: among 600
opted-out people most strangers' faces would be blocked. The rule instead keeps the *expected
number of false candidates per face*, ``N * FMR``, under a target, so its thresholds tighten as
the registry grows; it never becomes looser than the engine's own thresholds.

The inputs, per probe face (see ``decide``):

- ``distances``: ``{person_id: [distances to that person's templates, any order]}``, only for the
  people the search returned (typically those within the engine's review threshold). A person who
  is absent is taken to be beyond the review threshold.
- ``candidates``: N, the number of opted-out people this check searched, whether or not they were
  returned (the size of the haystack, not of the hit list).
- ``face_px`` and ``face_quality``: the probe face's box width and ``FaceQuality.score``.

The output is a ``FaceVerdict``: the person (or None), the class ``match`` / ``possible`` / ``none``
and an ``evidence`` dict saying why (distances, margin, templates agreeing, thresholds used).

Evidence. A person's evidence is the probability ``p`` that a stranger's face would look at least
this much like them, from the engine's ``ImpostorCalibration``:

- one template: ``p = FMR(nearest distance)``;
- ``n`` templates: the better of ``n * FMR(nearest)`` (each template is a chance for a stranger to
  come close) and ``C(n, k) * FMR_k(mean of the k nearest)``, ``k = min(n, fuse_templates)``: the
  mean of several templates is calibrated separately (a stranger rarely resembles every photo of
  someone, so its impostor distribution is narrower), times 2 for having looked at two tests. A
  second photo thus helps only when it agrees with the first.

The classes, with ``N`` candidates:

- ``match`` (blocked): ``N * p <= block_target``, the nearest template within the engine's
  threshold, a clear margin over the runner-up person, and a face large and sharp enough;
- ``possible`` (a person reviews): ``N * p <= review_target`` (strong evidence that failed one of
  the block conditions, or evidence short of the block bar but still strong);
- ``none`` otherwise.

Limits (see ``ImpostorCalibration``): the model's far tail is an extrapolation, strangers are not
independent draws (some faces look like many people), and the registry's own people may be less
alike than a stranger population; ``docs/accuracy.md`` measures the rule on real faces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

VerdictClass = Literal["match", "possible", "none"]

_STANDARD_NORMAL = NormalDist()
# Rates below this are not distinguishable from zero in double precision via the normal CDF
# and mean nothing physically: clamp so thresholds stay finite.
_SMALLEST_RATE = 1e-15


@dataclass(frozen=True)
class ImpostorCalibration:
    """How often a stranger's face falls within a distance of someone's template(s).

    Model: impostor distances are normal, ``FMR(d) = Phi((d - mean) / sd)`` per pair. The mean of a
    person's ``k`` nearest template distances has its own normal fit, ``fused[k - 2] = (mean_k,
    sd_k)`` for ``k = 2, 3, ...``; without one, several templates bring no extra evidence (the rule
    then falls back to the nearest template).

    A normal fit is a description of the bulk, and the rule uses its tail at rates of 1e-5 to
    1e-4, below the points it was fitted on (see the backend's values for what they were checked
    against). Real impostor tails tend to be heavier than normal; ``registry_capacity`` and the
    benchmark should be re-run when the calibration changes.
    """

    mean: float
    sd: float
    fused: tuple[tuple[float, float], ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if not (self.sd > 0 and all(sd > 0 for _mean, sd in self.fused)):
            raise ValueError("calibration standard deviations must be positive")

    def max_fused_templates(self) -> int:
        return 1 + len(self.fused)

    def _params(self, templates: int) -> tuple[float, float]:
        if templates <= 1:
            return self.mean, self.sd
        if templates > self.max_fused_templates():
            raise ValueError(f"no calibration for the mean of {templates} templates")
        return self.fused[templates - 2]

    def false_match_rate(self, distance: float, templates: int = 1) -> float:
        """Chance a stranger's (mean of ``templates`` nearest) distance is at most ``distance``."""
        mean, sd = self._params(templates)
        return max(_SMALLEST_RATE, _STANDARD_NORMAL.cdf((distance - mean) / sd))

    def distance_at(self, rate: float, templates: int = 1) -> float:
        """The distance whose false-match rate is ``rate`` (the inverse of the above)."""
        mean, sd = self._params(templates)
        rate = min(max(rate, _SMALLEST_RATE), 1 - _SMALLEST_RATE)
        return mean + sd * _STANDARD_NORMAL.inv_cdf(rate)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": "normal impostor distances",
            "mean": self.mean,
            "sd": self.sd,
            "fused": [list(pair) for pair in self.fused],
            "source": self.source,
        }


@dataclass(frozen=True)
class RuleSettings:
    """The rule's targets and limits; the defaults are the registry's policy.

    ``block_target`` and ``review_target`` are expected false candidates per probe face: 0.005
    means one stranger's face in 200 could be blocked (in the worst case, with every other block
    condition met), 0.05 one in 20 sent for review.
    """

    block_target: float = 0.005
    review_target: float = 0.05
    # The engine's own thresholds: the rule may be stricter, never looser.
    max_block_distance: float = 0.6
    max_review_distance: float = 0.68
    # The runner-up person's evidence distance must be at least this much further to block: two
    # people almost equally close means the registry cannot tell them apart, a person should look.
    min_margin: float = 0.05
    fuse_templates: int = 3
    # Faces smaller or poorer than this are reviewed, never blocked: their embeddings are noisy
    # (a 56 px face or a blurred one moves a genuine distance up and an impostor's down).
    min_block_face_px: int = 60
    min_block_quality: float = 0.3

    def __post_init__(self) -> None:
        if not 0 < self.block_target <= self.review_target:
            raise ValueError("need 0 < block_target <= review_target")
        if self.max_block_distance > self.max_review_distance:
            raise ValueError("max_block_distance must not exceed max_review_distance")
        if self.fuse_templates < 1:
            raise ValueError("fuse_templates must be at least 1")


@dataclass(frozen=True)
class Thresholds:
    """The bars for one registry size: per-person false-candidate rates, and the single-template
    distances they correspond to (what an operator reads)."""

    candidates: int
    block_rate: float
    review_rate: float
    block_distance: float
    review_distance: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidates": self.candidates,
            "block_rate": self.block_rate,
            "review_rate": self.review_rate,
            "block_distance": round(self.block_distance, 4),
            "review_distance": round(self.review_distance, 4),
        }


@dataclass(frozen=True)
class Evidence:
    """One person's evidence against a probe face."""

    person_id: Any
    nearest: float
    rate: float  # chance a stranger looks at least this much like the person (per person)
    templates_agreeing: int  # 1: the nearest template decided; k: the mean of k nearest did
    fused_distance: float | None  # that mean, when it decided


@dataclass(frozen=True)
class FaceVerdict:
    person_id: Any | None
    match: VerdictClass
    evidence: dict[str, Any] = field(default_factory=dict)


def thresholds_for(
    candidates: int, calibration: ImpostorCalibration, settings: RuleSettings | None = None
) -> Thresholds:
    """The block and review bars for a check that searched ``candidates`` people."""
    settings = settings or RuleSettings()
    n = max(1, int(candidates))
    block_rate = min(
        settings.block_target / n, calibration.false_match_rate(settings.max_block_distance)
    )
    review_rate = min(
        settings.review_target / n, calibration.false_match_rate(settings.max_review_distance)
    )
    return Thresholds(
        candidates=n,
        block_rate=block_rate,
        review_rate=review_rate,
        block_distance=calibration.distance_at(block_rate),
        review_distance=calibration.distance_at(review_rate),
    )


def person_evidence(
    person_id: Any,
    distances: Sequence[float],
    calibration: ImpostorCalibration,
    settings: RuleSettings | None = None,
) -> Evidence:
    """The stronger of two tests: the nearest template alone, or the mean of the k nearest.

    A person with ``n`` templates gives a stranger ``n`` chances to come close, so the nearest
    template's rate is multiplied by ``n`` (a union bound, and nearly exact in the far tail the
    rule works in, where two templates are rarely both close to a stranger); likewise the mean of
    the k nearest by the number of ways to pick k of n. Keeping the better test costs a factor 2.
    """
    settings = settings or RuleSettings()
    ordered = sorted(float(d) for d in distances)
    n = len(ordered)
    if not n:
        raise ValueError(f"person {person_id!r} has no distances")
    nearest = ordered[0]
    single_rate = min(1.0, n * calibration.false_match_rate(nearest))
    k = min(n, settings.fuse_templates, calibration.max_fused_templates())
    if k < 2:
        return Evidence(person_id, nearest, single_rate, 1, None)
    fused = float(np.mean(ordered[:k]))
    fused_rate = min(1.0, math.comb(n, k) * calibration.false_match_rate(fused, k))
    if fused_rate < single_rate:
        return Evidence(person_id, nearest, min(1.0, 2 * fused_rate), k, fused)
    return Evidence(person_id, nearest, min(1.0, 2 * single_rate), 1, None)


def decide(
    distances: Mapping[Any, Sequence[float]],
    *,
    candidates: int,
    calibration: ImpostorCalibration,
    face_px: int | None = None,
    face_quality: float | None = None,
    settings: RuleSettings | None = None,
) -> FaceVerdict:
    """The verdict for one probe face (see the module docstring for the rule and the inputs)."""
    settings = settings or RuleSettings()
    bars = thresholds_for(max(candidates, len(distances)), calibration, settings)
    scored = sorted(
        (person_evidence(pid, ds, calibration, settings) for pid, ds in distances.items() if ds),
        key=lambda e: (e.rate, e.nearest),
    )
    evidence: dict[str, Any] = {"thresholds": bars.as_dict()}
    if not scored:
        return FaceVerdict(None, "none", evidence)

    best = scored[0]
    as_distance = calibration.distance_at(best.rate)
    runner_up = calibration.distance_at(scored[1].rate) if len(scored) > 1 else None
    # Nobody else returned: the runner-up is at least beyond the engine's review threshold.
    margin = (runner_up if runner_up is not None else settings.max_review_distance) - as_distance
    evidence.update(
        distance=round(best.nearest, 4),
        evidence_distance=round(as_distance, 4),
        false_candidate_rate=best.rate,
        expected_false_candidates=best.rate * bars.candidates,
        templates_agreeing=best.templates_agreeing,
        fused_distance=None if best.fused_distance is None else round(best.fused_distance, 4),
        margin=round(margin, 4),
        margin_is_lower_bound=runner_up is None,
    )

    if best.rate > bars.review_rate:
        return FaceVerdict(None, "none", evidence)

    held_back = []
    if best.rate > bars.block_rate:
        held_back.append("evidence below the block bar for this registry size")
    if best.nearest > settings.max_block_distance:
        held_back.append("nearest template beyond the engine's threshold")
    if margin < settings.min_margin:
        held_back.append("another person is almost as close")
    if face_px is not None and face_px < settings.min_block_face_px:
        held_back.append("face too small to block on")
    if face_quality is not None and face_quality < settings.min_block_quality:
        held_back.append("face quality too poor to block on")
    if held_back:
        evidence["review_because"] = held_back
        return FaceVerdict(best.person_id, "possible", evidence)
    return FaceVerdict(best.person_id, "match", evidence)


def registry_capacity(
    calibration: ImpostorCalibration,
    genuine_distances: Sequence[float],
    *,
    min_identified: float = 0.6,
    settings: RuleSettings | None = None,
    templates: int = 1,
    largest: int = 10_000_000,
) -> int:
    """The largest registry (opted-out people searched per check) at which the rule still blocks
    at least ``min_identified`` of genuine faces, its block bar keeping strangers' expected false
    blocks at ``settings.block_target`` per face.

    ``genuine_distances`` are genuine evidence distances (nearest template, or the mean of
    ``templates`` nearest when ``templates > 1``) measured on real photos; only the block bar is
    applied (margin and quality conditions lower identification further, see the benchmark).
    Beyond the capacity the engine can no longer both keep strangers safe and recognise the people
    who opted out: the operator should be warned, and a stronger model or more templates per
    person are the remedies. Returns 0 when even one candidate is too many.
    """
    settings = settings or RuleSettings()
    genuine = np.sort(np.asarray(genuine_distances, dtype=np.float64))
    if genuine.size == 0:
        raise ValueError("need genuine distances to judge identification")
    if not 0 < min_identified <= 1:
        raise ValueError("min_identified must be in (0, 1]")
    # The smallest distance that keeps min_identified of genuine faces within reach.
    needed = float(genuine[math.ceil(min_identified * genuine.size) - 1])
    if needed > settings.max_block_distance:
        return 0
    rate_needed = calibration.false_match_rate(needed, templates)
    if templates > 1:
        rate_needed = min(1.0, 2 * rate_needed)  # the rule's Bonferroni factor
    capacity = math.floor(settings.block_target / rate_needed)
    return int(min(max(capacity, 0), largest))
