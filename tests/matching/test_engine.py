"""The dlib face engine finds, embeds and tells apart the people of ../shared/faces."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageFilter

from matching.engine.base import Box, FaceEmbedding
from matching.engine.dlib import DlibFaceEngine
from tests.matching.conftest import (
    SMALL_FACE_PX,
    load_manifest,
    nearest_person,
    read_rgb,
    small_face_box,
)

MANIFEST = load_manifest()
PEOPLE_PHOTOS = [(person, path) for person, files in MANIFEST["people"].items() for path in files]
GROUP_PHOTOS = list(MANIFEST["groups"].items())
OBAMA_SOURCE = "people/obama/obama4.jpg"  # the photo the derived images are made from


def test_the_shared_faces_are_present(manifest):
    assert PEOPLE_PHOTOS, "manifest.json lists no photos"
    assert GROUP_PHOTOS


@pytest.mark.parametrize(("person", "path"), PEOPLE_PHOTOS, ids=[p for _, p in PEOPLE_PHOTOS])
def test_every_single_person_photo_yields_exactly_one_face(analysed, person, path):
    assert len(analysed[path]) == 1


@pytest.mark.parametrize(("path", "people"), GROUP_PHOTOS, ids=[p for p, _ in GROUP_PHOTOS])
def test_group_photos_yield_every_face_listed(analysed, path, people):
    assert len(analysed[path]) == len(people)


@pytest.mark.parametrize(("path", "people"), GROUP_PHOTOS, ids=[p for p, _ in GROUP_PHOTOS])
def test_group_faces_are_recognised_as_the_people_listed(
    engine, analysed, references, path, people
):
    """Each face is named after its nearest person if within the threshold, else "nobody"."""
    recognised = []
    for face in analysed[path]:
        person, distance, _ = nearest_person(engine, face, references)
        recognised.append(person if engine.classify(distance) == "match" else None)
    assert sorted(recognised, key=str) == sorted(people, key=str)


def _labelled_faces(engine, manifest, analysed, references) -> list[tuple[str | None, str, object]]:
    faces = [(person, path, analysed[path][0]) for person, path in PEOPLE_PHOTOS]
    for path in manifest["groups"]:
        for face in analysed[path]:
            person, distance, _ = nearest_person(engine, face, references)
            faces.append((person if distance <= engine.threshold else None, path, face))
    return faces


def test_every_same_person_pair_is_under_the_threshold(engine, manifest, analysed, references):
    faces = _labelled_faces(engine, manifest, analysed, references)
    pairs = [
        (a[1], b[1], engine.distance(a[2], b[2]))
        for a, b in itertools.combinations(faces, 2)
        if a[0] is not None and a[0] == b[0]
    ]
    assert len(pairs) >= 60
    over = [pair for pair in pairs if engine.classify(pair[2]) != "match"]
    assert not over, over


def test_every_different_person_pair_is_over_the_threshold(engine, manifest, analysed, references):
    faces = _labelled_faces(engine, manifest, analysed, references)
    pairs = [
        (a[1], b[1], engine.distance(a[2], b[2]))
        for a, b in itertools.combinations(faces, 2)
        if a[0] is None or a[0] != b[0]
    ]
    assert len(pairs) >= 250
    under = [pair for pair in pairs if pair[2] <= engine.threshold]
    assert not under, under


def _only_face_matches_obama(engine, references, image_path: Path) -> FaceEmbedding:
    (face,) = engine.analyse(read_rgb(image_path))
    # The derived images come from obama4.jpg, so compare with Obama's *other* photos.
    person, distance, everyone = nearest_person(engine, face, references, exclude=(OBAMA_SOURCE,))
    assert person == "obama", everyone
    assert engine.classify(distance) == "match", everyone
    others = {p: d for p, d in everyone.items() if p != "obama"}
    assert min(others.values()) > engine.threshold, everyone
    return face


def test_the_rgba_png_is_found_and_matches(engine, references, faces):
    _only_face_matches_obama(engine, references, faces / "people" / "obama" / "obama_rgba.png")


def test_a_grayscale_copy_is_found_and_matches(engine, references, grayscale_png):
    _only_face_matches_obama(engine, references, grayscale_png)


def test_an_exif_rotated_copy_is_found_and_matches(engine, references, exif_rotated_jpeg):
    # The detector only finds upright faces, so finding it shows the rotation was undone.
    _only_face_matches_obama(engine, references, exif_rotated_jpeg)


def test_a_sixteen_bit_copy_is_found_and_matches(engine, references, sixteen_bit_png):
    _only_face_matches_obama(engine, references, sixteen_bit_png)


def test_a_palette_copy_is_found_and_matches(engine, references, palette_png):
    _only_face_matches_obama(engine, references, palette_png)


def test_a_webp_copy_is_found_and_matches(engine, references, webp_image):
    _only_face_matches_obama(engine, references, webp_image)


def test_a_48_pixel_face_in_a_full_hd_frame_is_found_and_matches(
    engine, references, small_face_canvas
):
    face = _only_face_matches_obama(engine, references, small_face_canvas)
    assert face.box.iou(small_face_box()) > 0.5, face.box
    assert abs(face.box.width - SMALL_FACE_PX) <= 12
    assert "face too small: " in face.quality.problems[0]


def test_a_portrait_needs_only_the_coarse_pass(engine, faces, monkeypatch):
    """Speed comes from not enlarging photos whose faces are plainly large."""
    scales = _record_scan_scales(engine, monkeypatch)
    image = read_rgb(faces / OBAMA_SOURCE)
    assert len(engine.detect(image)) == 1
    assert len(scales) == 1
    assert scales[0] * max(image.shape[:2]) == pytest.approx(engine.coarse_side)


def test_a_frame_without_large_faces_is_searched_enlarged(engine, small_face_canvas, monkeypatch):
    scales = _record_scan_scales(engine, monkeypatch)
    engine.detect(read_rgb(small_face_canvas))
    assert scales[0] < 1 and scales[-1] == 2.0


def test_a_face_just_below_the_coarse_limit_beside_a_large_one_is_found(engine, faces):
    """The coarse pass (1920 px shrunk to 800) sees faces of about 192 px and up; a 120 px face
    only stirs its smallest windows weakly, and that spot is then searched enlarged."""
    frame = _frame_with_faces(
        engine, [(faces / OBAMA_SOURCE, 300, (100, 200)), (faces / KIT_PHOTO, 120, (1200, 300))]
    )

    widths = sorted(box.width for box in engine.detect(frame))
    assert len(widths) == 2
    assert 100 <= widths[0] <= 160
    assert 270 <= widths[1] <= 330

    without_hints = DlibFaceEngine()
    without_hints.hint_margin = 0.0  # only accepted windows: nothing to look closer at
    assert len(without_hints.detect(frame)) == 1


KIT_PHOTO = "people/kit_harington/kit2.jpg"


def _frame_with_faces(engine, placed: list[tuple[Path, int, tuple[int, int]]]) -> np.ndarray:
    noise = np.random.default_rng(3).normal(120, 25, (1080, 1920, 3))
    frame = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8))
    for path, face_px, at in placed:
        frame.paste(_face_crop(engine, path, face_px), at)
    return np.asarray(frame)


def _face_crop(engine, path: Path, face_px: int) -> Image.Image:
    photo = Image.open(path).convert("RGB")
    (box,) = engine.detect(np.asarray(photo))
    margin = box.width // 2
    crop = photo.crop(
        (box.left - margin, box.top - margin, box.right + margin, box.bottom + margin)
    )
    factor = face_px / box.width
    return crop.resize(
        (round(crop.width * factor), round(crop.height * factor)), Image.Resampling.LANCZOS
    )


def _record_scan_scales(engine, monkeypatch) -> list[float]:
    scales: list[float] = []
    original = engine._scan

    def recording_scan(detector, grey, scale, **options):
        scales.append(scale)
        return original(detector, grey, scale, **options)

    monkeypatch.setattr(engine, "_scan", recording_scan)
    return scales


def test_small_faces_never_skips_the_fine_pass_and_misses_the_small_face(small_face_canvas):
    engine = DlibFaceEngine(small_faces="never")
    assert engine.detect(read_rgb(small_face_canvas)) == []


def test_embeddings_carry_the_model_and_a_128_float32_vector(engine, analysed):
    (face,) = analysed[OBAMA_SOURCE]
    assert face.model_name == "dlib_face_recognition_resnet_model_v1"
    assert face.model_version.startswith("face_recognition_models-0.3.0+dlib-")
    assert face.vector.dtype == np.float32
    assert face.vector.shape == (engine.dimensions,) == (128,)


def test_embeddings_equal_face_recognitions_for_the_same_box(engine, faces, monkeypatch):
    """Same alignment and network as face_recognition.face_encodings: vectors interchangeable."""
    # Importing face_recognition switches Pillow to accepting truncated files; monkeypatch puts
    # the flag back afterwards so later tests see the process as it was.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)
    face_recognition = pytest.importorskip("face_recognition")
    image = read_rgb(faces / OBAMA_SOURCE)
    (box,) = engine.detect(image)
    (ours,) = engine.embed(image, [box])
    (theirs,) = face_recognition.face_encodings(image, known_face_locations=[tuple(box.as_list())])
    assert np.linalg.norm(ours.vector - theirs) < 1e-4


def test_a_good_portrait_has_no_quality_problems(analysed):
    (face,) = analysed["people/obama/obama.jpg"]
    assert face.quality.problems == []
    assert face.quality.score > 0.8
    assert abs(face.quality.yaw) < 10


def test_a_small_face_is_reported_too_small_for_enrollment(analysed):
    (face,) = analysed["people/obama/obama-240p.jpg"]
    assert face.quality.problems == [f"face too small: {face.box.width} px, need 80"]


def test_a_blurred_face_is_reported_too_blurry(engine, faces):
    photo = Image.open(faces / "people" / "obama" / "obama.jpg").convert("RGB")
    blurred = np.asarray(photo.filter(ImageFilter.GaussianBlur(5)))
    (face,) = engine.analyse(blurred)
    assert any(problem.startswith("too blurry") for problem in face.quality.problems)
    assert face.quality.sharpness < engine.enroll_min_sharpness


def test_a_turned_head_is_reported(engine):
    # Landmarks of a head turned well to one side: the nose sits near one eye.
    points = np.array([[200, 100], [170, 100], [110, 100], [140, 100], [185, 150]], dtype=float)
    assert abs(engine._estimate_yaw(points)) > engine.enroll_max_yaw
    frontal = np.array([[200, 100], [170, 100], [110, 100], [140, 100], [155, 150]], dtype=float)
    assert abs(engine._estimate_yaw(frontal)) < 1


def test_classify_bands(engine):
    assert engine.classify(engine.threshold) == "match"
    assert engine.classify(engine.threshold + 0.01) == "possible"
    assert engine.classify(engine.review_threshold) == "possible"
    assert engine.classify(engine.review_threshold + 0.01) == "none"
    assert engine.threshold < engine.review_threshold


def test_distances_against_a_gallery_equal_pairwise_distances(engine, analysed):
    faces = [analysed[path][0] for _, path in PEOPLE_PHOTOS[:5]]
    gallery = np.stack([f.vector for f in faces])
    expected = [engine.distance(faces[0], f) for f in faces]
    assert np.allclose(engine.distances(faces[0], gallery), expected)


def test_embeddings_of_different_models_are_not_compared(engine, analysed):
    face = analysed[OBAMA_SOURCE][0]
    other = FaceEmbedding(
        box=face.box,
        vector=face.vector,
        quality=face.quality,
        model_name="some_other_model",
        model_version="1",
    )
    with pytest.raises(ValueError, match="different models"):
        engine.distance(face, other)


def test_no_face_means_empty_lists(engine):
    blank = np.full((300, 400, 3), 128, dtype=np.uint8)
    assert engine.detect(blank) == []
    assert engine.analyse(blank) == []


def test_images_must_be_rgb_uint8(engine):
    with pytest.raises(TypeError):
        engine.detect(np.zeros((10, 10, 3), dtype=np.float32))
    with pytest.raises(ValueError):
        engine.detect(np.zeros((10, 10), dtype=np.uint8))


def test_box_helpers():
    box = Box(top=10, right=50, bottom=40, left=20)
    assert (box.width, box.height) == (30, 30)
    assert box.as_list() == [10, 50, 40, 20]
    assert Box.from_list(box.as_list()) == box
    assert box.iou(box) == 1.0
    assert box.iou(Box(top=100, right=150, bottom=140, left=120)) == 0.0
