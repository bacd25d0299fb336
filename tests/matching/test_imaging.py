"""decode_image turns uploads into upright RGB arrays, or refuses them clearly and cheaply."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from matching.engine.errors import (
    CorruptImage,
    ImageError,
    ImageTooLarge,
    NotAnImage,
    UnsupportedImageFormat,
)
from matching.lib.imaging import decode_image, describe_content, sniff_image_type
from registry.lib.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from tests.matching.conftest import MAX_PIXELS, encode, read_rgb

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_jpeg_decodes_to_an_rgb_uint8_array(obama_jpeg):
    pixels = read_rgb(obama_jpeg)
    width, height = Image.open(obama_jpeg).size
    assert pixels.shape == (height, width, 3)
    assert pixels.dtype == np.uint8


def test_exif_orientation_is_applied(exif_rotated_jpeg, obama_jpeg):
    stored = Image.open(exif_rotated_jpeg)
    original = read_rgb(obama_jpeg)
    assert stored.size == (original.shape[0], original.shape[1])  # stored sideways

    upright = read_rgb(exif_rotated_jpeg)

    assert upright.shape == original.shape
    # Same picture up to JPEG re-encoding noise; a wrong turn would differ wildly.
    assert np.abs(upright.astype(int) - original.astype(int)).mean() < 4


def test_rgba_png_is_flattened_onto_white():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 200  # red where opaque...
    rgba[:2, :, 3] = 255  # ...top half opaque, bottom half fully transparent
    pixels = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"), max_pixels=MAX_PIXELS)
    assert pixels[0, 0].tolist() == [200, 0, 0]
    assert pixels[3, 3].tolist() == [255, 255, 255]


def test_the_shared_rgba_png_decodes(faces):
    pixels = read_rgb(faces / "people" / "obama" / "obama_rgba.png")
    assert pixels.shape[2] == 3


def test_grayscale_png_becomes_three_equal_channels(grayscale_png):
    pixels = read_rgb(grayscale_png)
    assert pixels.shape[2] == 3
    assert np.array_equal(pixels[..., 0], pixels[..., 1])
    assert np.array_equal(pixels[..., 1], pixels[..., 2])


def test_sixteen_bit_png_keeps_its_tones_instead_of_clipping_to_white(sixteen_bit_png, obama_jpeg):
    pixels = read_rgb(sixteen_bit_png)
    expected = np.asarray(Image.open(obama_jpeg).convert("L"))
    assert np.abs(pixels[..., 0].astype(int) - expected.astype(int)).max() <= 1


def test_palette_png_decodes(palette_png, obama_jpeg):
    pixels = read_rgb(palette_png)
    original = read_rgb(obama_jpeg)
    assert pixels.shape == original.shape
    assert np.abs(pixels.astype(int) - original.astype(int)).mean() < 6


def test_palette_transparency_is_honoured():
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    data = encode(image, "PNG", transparency=0)
    assert decode_image(data, max_pixels=MAX_PIXELS)[0].tolist() == [[255, 255, 255], [10, 200, 30]]


def test_webp_decodes(webp_image, obama_jpeg):
    assert read_rgb(webp_image).shape == read_rgb(obama_jpeg).shape


def test_truncated_jpeg_is_refused_as_corrupt(truncated_jpeg):
    started = time.perf_counter()
    with pytest.raises(CorruptImage) as caught:
        read_rgb(truncated_jpeg)
    assert time.perf_counter() - started < 1.0
    assert caught.value.message == "The image is truncated or corrupt."
    assert caught.value.status_code == 400
    assert caught.value.code == "corrupt_image"


def test_truncated_png_is_refused_as_corrupt(grayscale_png):
    data = grayscale_png.read_bytes()
    with pytest.raises(CorruptImage):
        decode_image(data[: len(data) // 2], max_pixels=MAX_PIXELS)


def test_truncated_images_stay_refused_after_face_recognition_style_global_switch(
    truncated_jpeg, monkeypatch
):
    # ``import face_recognition`` flips this process-wide; decoding must not start accepting
    # half-uploaded files because some other module was imported first.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(CorruptImage):
        read_rgb(truncated_jpeg)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_text_file_named_jpg_is_not_an_image(text_as_jpeg):
    started = time.perf_counter()
    with pytest.raises(NotAnImage) as caught:
        read_rgb(text_as_jpeg)
    assert time.perf_counter() - started < 1.0
    assert caught.value.message == "The file is not an image (detected: text)."
    assert caught.value.status_code == 415
    assert caught.value.code == "not_an_image"


def test_decompression_bomb_is_refused_from_its_header(bomb_png):
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(bomb_png.read_bytes(), max_pixels=40_000_000)
    assert time.perf_counter() - started < 1.0
    assert caught.value.message == (
        "The image is 20000x20000 = 400 megapixels; the limit is 40 megapixels."
    )
    assert caught.value.status_code == 413
    assert caught.value.code == "image_too_large"
    assert caught.value.detail == {"width": 20000, "height": 20000, "max_pixels": 40_000_000}


def test_refusals_take_under_a_second_and_never_allocate_the_bitmap(
    bomb_png, truncated_jpeg, text_as_jpeg
):
    """Measured in a fresh interpreter: its peak RSS is a clean before/after for each file."""
    script = textwrap.dedent(
        """
        import json, resource, sys, time
        from matching.lib.imaging import decode_image
        from matching.engine.errors import ImageError

        def peak_mb():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        report = {}
        for path in sys.argv[1:]:
            data = open(path, "rb").read()
            before = peak_mb()
            started = time.perf_counter()
            try:
                decode_image(data, max_pixels=40_000_000)
                error = None
            except ImageError as exc:
                error = type(exc).__name__
            report[path] = {
                "error": error,
                "seconds": time.perf_counter() - started,
                "peak_growth_mb": peak_mb() - before,
            }
        print(json.dumps(report))
        """
    )
    paths = [str(bomb_png), str(truncated_jpeg), str(text_as_jpeg)]
    result = subprocess.run(
        [sys.executable, "-c", script, *paths],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(result.stdout)

    assert [report[p]["error"] for p in paths] == ["ImageTooLarge", "CorruptImage", "NotAnImage"]
    for path in paths:
        assert report[path]["seconds"] < 1.0, report
        # The bomb would need 400 MB even as 8-bit palette pixels, 1.2 GB as RGB; the truncated
        # photo is 1480x832, about 4 MB as RGB.
        assert report[path]["peak_growth_mb"] < 30, report


def test_other_image_formats_are_named_in_the_refusal():
    gif = encode(Image.new("RGB", (4, 4)), "GIF")
    with pytest.raises(UnsupportedImageFormat) as caught:
        decode_image(gif, max_pixels=MAX_PIXELS)
    assert caught.value.message == "GIF images are not supported; send a JPEG, PNG or WebP image."
    assert caught.value.status_code == 415


def test_image_errors_are_the_shared_error_types():
    assert issubclass(ImageError, ValidationFailed)
    assert issubclass(NotAnImage, UnsupportedMediaType)
    assert issubclass(UnsupportedImageFormat, UnsupportedMediaType)
    assert issubclass(ImageTooLarge, PayloadTooLarge)
    assert issubclass(CorruptImage, ImageError)


def test_empty_upload_is_not_an_image():
    with pytest.raises(NotAnImage) as caught:
        decode_image(b"", max_pixels=MAX_PIXELS)
    assert caught.value.message == "The file is not an image (detected: empty file)."


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "png"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
        (b"RIFF\x10\x00\x00\x00AVI LIST", None),
        (b"GIF89a", None),
        (b"hello", None),
        (b"", None),
    ],
)
def test_sniff_image_type_reads_magic_bytes(data, expected):
    assert sniff_image_type(data) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"%PDF-1.7\n", "PDF document"),
        (b"\x00\x00\x00\x18ftypmp42", "MP4/QuickTime video"),
        (b"\x00\x00\x00\x18ftypheic", "HEIC image"),
        ("naïve café text".encode(), "text"),
        (bytes(range(256)), "unrecognised binary data"),
    ],
)
def test_describe_content_names_what_was_sent(data, expected):
    assert describe_content(data) == expected


def test_pixel_limit_applies_to_ordinary_photos_too(obama_jpeg):
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(obama_jpeg.read_bytes(), max_pixels=1_000_000)
    assert caught.value.message == (
        "The image is 1480x832 = 1.2 megapixels; the limit is 1 megapixels."
    )
