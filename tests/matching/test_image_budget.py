"""Decoding costs what the face engine can use, not what a small file claims to hold."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from matching.engine.errors import ImageTooLarge
from matching.lib.imaging import (
    FULL_DECODE_MAX_PIXELS,
    PixelBudget,
    decode_image,
    decode_image_scaled,
)
from tests.matching.conftest import MAX_PIXELS, encode, read_rgb


def one_colour_png(width: int, height: int, colour=(120, 130, 140)) -> bytes:
    """An 8-bit RGB PNG of one colour, written row by row so the bitmap is never allocated."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    row = b"\x00" + bytes(colour) * width
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_a_one_colour_6300_png_is_refused_from_its_header_with_its_size():
    data = one_colour_png(6300, 6300)
    assert len(data) < 200_000
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(data, max_pixels=MAX_PIXELS)
    assert caught.value.message == (
        "The image is 6300x6300 = 40 megapixels; PNG images are limited to 16 megapixels."
    )
    assert caught.value.status_code == 413
    assert caught.value.detail == {
        "width": 6300,
        "height": 6300,
        "max_pixels": FULL_DECODE_MAX_PIXELS,
    }


def test_a_png_within_the_full_decode_limit_is_analysed_shrunk():
    decoded = decode_image_scaled(one_colour_png(4000, 3000), max_pixels=MAX_PIXELS)
    height, width, _ = decoded.pixels.shape
    assert width * height <= 8_000_000
    assert width >= 3000
    assert decoded.scale == pytest.approx(4000 / width)
    assert decoded.pixels[0, 0].tolist() == [120, 130, 140]


def test_a_large_jpeg_is_decoded_reduced_keeping_its_content(obama_jpeg):
    # 7400x4160 = 31 megapixels: under the limit, decoded at half size by libjpeg's DCT scaling.
    big = Image.open(obama_jpeg).resize((7400, 4160))
    data = encode(big, "JPEG", quality=90)
    decoded = decode_image_scaled(data, max_pixels=MAX_PIXELS)
    height, width, _ = decoded.pixels.shape
    assert width * height <= 8_000_000
    assert abs(width / height - 7400 / 4160) < 0.01
    assert decoded.scale == pytest.approx(7400 / width)
    small = np.asarray(big.resize((width, height)), dtype=int)
    assert np.abs(decoded.pixels.astype(int) - small).mean() < 6


def test_an_ordinary_photo_is_not_shrunk(obama_jpeg):
    decoded = decode_image_scaled(obama_jpeg.read_bytes(), max_pixels=MAX_PIXELS)
    assert decoded.scale == 1.0
    assert decoded.pixels.shape == read_rgb(obama_jpeg).shape


def test_a_shrunk_photo_is_still_turned_upright(exif_rotated_jpeg, obama_jpeg):
    upright = read_rgb(obama_jpeg)
    decoded = decode_image_scaled(
        exif_rotated_jpeg.read_bytes(), max_pixels=MAX_PIXELS, work_pixels=300_000
    )
    height, width, _ = decoded.pixels.shape
    assert width * height <= 300_000
    # Upright: landscape like the original, not the portrait it is stored as.
    assert width > height
    expected = np.asarray(Image.fromarray(upright).resize((width, height)), dtype=int)
    assert np.abs(decoded.pixels.astype(int) - expected).mean() < 8


def test_a_shrunk_palette_png_is_averaged_not_sampled():
    # A 1-pixel checkerboard of red and blue averages to purple; sampling would keep one colour.
    image = Image.new("P", (2000, 2000))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putdata([(x + y) % 2 for y in range(2000) for x in range(2000)])
    pixels = decode_image(encode(image, "PNG"), max_pixels=MAX_PIXELS, work_pixels=250_000)
    assert pixels.shape[0] * pixels.shape[1] <= 250_000
    red, green, blue = pixels[pixels.shape[0] // 2, pixels.shape[1] // 2].tolist()
    assert 100 < red < 155 and green == 0 and 100 < blue < 155


def test_a_budget_refuses_the_image_that_would_overdraw_it(obama_jpeg):
    data = obama_jpeg.read_bytes()  # 1480x832 = 1.2 megapixels
    budget = PixelBudget(3_000_000)
    decode_image(data, max_pixels=MAX_PIXELS, budget=budget)
    decode_image(data, max_pixels=MAX_PIXELS, budget=budget)
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(data, max_pixels=MAX_PIXELS, budget=budget)
    assert caught.value.message == (
        "The images in this upload together have more than 3 megapixels; "
        "send fewer or smaller images."
    )
    assert budget.spent == 2 * 1480 * 832


def test_an_image_refused_on_its_own_does_not_spend_the_budget():
    budget = PixelBudget(100_000_000)
    with pytest.raises(ImageTooLarge):
        decode_image(one_colour_png(6300, 6300), max_pixels=MAX_PIXELS, budget=budget)
    assert budget.spent == 0


def test_a_png_whose_data_inflates_past_its_size_decodes_only_its_size():
    # A 100x100 header followed by 50 MB of zero rows: the decoder stops when the image is full.
    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    compressor = zlib.compressobj(9)
    row = b"\x00" * 301
    inflating = b"".join(compressor.compress(row) for _ in range(170_000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", 100, 100, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", inflating)
    data += chunk(b"IEND", b"")
    assert len(data) < 100_000
    assert decode_image(data, max_pixels=MAX_PIXELS).shape == (100, 100, 3)


def test_webp_has_the_full_decode_limit_too():
    # 4100x4100 = 16.8 megapixels; a flat WebP is small, and refused from its header.
    data = encode(Image.new("RGB", (4100, 4100), (9, 9, 9)), "WEBP", lossless=True)
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(data, max_pixels=MAX_PIXELS)
    assert "WEBP images are limited to 16 megapixels" in caught.value.message


def test_png_bytes_written_by_pillow_match_the_helper():
    # The helper writes what Pillow would: a one-colour image decodes to that colour.
    assert decode_image(one_colour_png(5, 4), max_pixels=MAX_PIXELS)[3, 4].tolist() == [
        120,
        130,
        140,
    ]
    buffer = io.BytesIO()
    Image.new("RGB", (5, 4), (120, 130, 140)).save(buffer, "PNG")
    assert np.array_equal(
        decode_image(buffer.getvalue(), max_pixels=MAX_PIXELS),
        decode_image(one_colour_png(5, 4), max_pixels=MAX_PIXELS),
    )
