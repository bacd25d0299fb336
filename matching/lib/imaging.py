"""Safe image decoding for uploads: bytes in, an RGB ``uint8`` array out, or a clear error.

Framework-free on purpose (no Django): the upload validators, the face engine and the benchmarks
all use it. Three rules shape the code:

* Decide what the bytes are from their magic numbers, never from a file name or a client's
  Content-Type, and hand them only to the Pillow plugin for that format (JPEG, PNG, WebP), which
  keeps Pillow's other thirty-odd parsers out of reach of untrusted input.
* Read the header, check width x height against the caller's pixel limits, and only then decode.
  Pillow decodes lazily, so a 20000x20000 "decompression bomb" is rejected after reading a few
  hundred bytes, before any bitmap is allocated.
* Decode no more pixels than the face engine can use. A JPEG is decoded reduced by libjpeg's
  DCT scaling (``draft``), so even a 40-megapixel photo costs a fraction of its size. PNG and WebP
  have no reduced decode in Pillow: every pixel is inflated, so they have a lower limit
  (``FULL_DECODE_MAX_PIXELS``); a 170 kB one-colour 6300x6300 PNG is refused from its header
  instead of costing 120 MB and, in the face engine, seconds and a gigabyte. Whatever is decoded
  is then shrunk to at most ``WORK_PIXELS`` for analysis, and a ``PixelBudget`` bounds what one
  request decodes over all its images.
* A truncated file is an error, not a grey-padded picture: ``ImageFile.LOAD_TRUNCATED_IMAGES``
  must stay off (see ``_refuse_truncated_images``).
"""

from __future__ import annotations

import io
import logging
import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin

from matching.engine.errors import (
    CorruptImage,
    ImageTooLarge,
    NotAnImage,
    UnsupportedImageFormat,
)

logger = logging.getLogger(__name__)

#: Matches the ``MAX_IMAGE_PIXELS`` setting's default; callers normally pass the setting.
DEFAULT_MAX_PIXELS = 40_000_000

#: The most pixels a PNG or WebP may have: Pillow inflates those at full size before any
#: reduction, about 20 ns and 3-4 bytes per pixel. JPEG keeps ``max_pixels`` (decoded reduced).
FULL_DECODE_MAX_PIXELS = 16_000_000

#: Images are shrunk to at most this many pixels before analysis. The face engine's cost grows
#: with pixels (about 0.2 s and 40 MB per megapixel for dlib) while it finds faces down to about
#: 40 px wide, which an 8-megapixel copy of any ordinary photo still shows.
WORK_PIXELS = 8_000_000

#: The formats the registry accepts, by the name ``sniff_image_type`` returns.
IMAGE_MIME_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

# Image formats we recognise but do not accept, so the error can say "GIF" rather than "not an
# image". Checked after the supported ones.
_OTHER_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "Photoshop"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
)
# ISO base media files ("....ftyp<brand>") are images for some brands and video for others.
_FTYP_IMAGE_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"avif": "AVIF"}
_NON_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF document"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"\x1aE\xdf\xa3", "Matroska/WebM video"),
    (b"OggS", "Ogg media"),
    (b"ID3", "MP3 audio"),
    (b"\x7fELF", "executable"),
    (b"MZ", "executable"),
)


def sniff_image_type(data: bytes) -> str | None:
    """Return ``"jpeg"``, ``"png"`` or ``"webp"`` when the bytes start like one, else ``None``.

    Only the first few bytes are looked at, so this is cheap enough for upload validation; it
    says nothing about whether the rest of the file is intact (``decode_image`` checks that).
    """
    head = bytes(data[:16])
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def describe_content(data: bytes) -> str:
    """Name what the bytes look like, for error messages: "JPEG image", "GIF image", "text"..."""
    kind = sniff_image_type(data)
    if kind is not None:
        return f"{kind.upper()} image"
    other = _other_image_format(data)
    if other is not None:
        return f"{other} image"
    head = bytes(data[:16])
    if not head:
        return "empty file"
    for signature, name in _NON_IMAGE_SIGNATURES:
        if head.startswith(signature):
            return name
    if head[4:8] == b"ftyp":
        return "MP4/QuickTime video"
    if head[:4] == b"RIFF":
        return "RIFF media (AVI/WAV)"
    if _looks_like_text(data[:4096]):
        return "text"
    return "unrecognised binary data"


class PixelBudget:
    """The pixels one request may send over all its images (an upload of several photos).

    ``decode_image`` spends each image's width x height, read from its header, once the image has
    passed its own limits and before any pixel is decoded; an image that would overdraw the
    budget is refused. Counted as sent rather than as decoded so that a person can tell from
    their photos' sizes what fits.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.spent = 0

    def spend(self, pixels: int) -> None:
        if self.spent + pixels > self.total:
            raise ImageTooLarge(
                f"The images in this upload together have more than {_megapixels(self.total)} "
                "megapixels; send fewer or smaller images.",
                detail={"max_request_pixels": self.total},
            )
        self.spent += pixels


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """Upright RGB pixels and how many pixels of the original each of them stands for.

    ``scale`` is 1.0 unless the image was shrunk for analysis; multiply coordinates in ``pixels``
    by it to get coordinates in the image that was sent.
    """

    pixels: np.ndarray
    scale: float = 1.0


def decode_image(
    data: bytes,
    *,
    max_pixels: int,
    work_pixels: int = WORK_PIXELS,
    budget: PixelBudget | None = None,
) -> np.ndarray:
    """Decode JPEG/PNG/WebP bytes into an ``(H, W, 3)`` ``uint8`` RGB array, upright.

    EXIF orientation is applied, transparency is flattened onto white, and 16-bit, grayscale and
    palette images are converted to 8-bit RGB; images above ``work_pixels`` come back shrunk (see
    ``decode_image_scaled`` for the factor). Raises ``NotAnImage`` or ``UnsupportedImageFormat``
    (415), ``ImageTooLarge`` (413, checked from the header before any pixel is decoded) or
    ``CorruptImage`` (400, e.g. a truncated upload).
    """
    return decode_image_scaled(
        data, max_pixels=max_pixels, work_pixels=work_pixels, budget=budget
    ).pixels


def decode_image_scaled(
    data: bytes,
    *,
    max_pixels: int,
    work_pixels: int = WORK_PIXELS,
    budget: PixelBudget | None = None,
) -> DecodedImage:
    """``decode_image``, also saying by how much the image was shrunk."""
    _refuse_truncated_images()
    image = _open_header(data)
    try:
        width, height = image.size
        pixels = width * height
        if pixels > max_pixels:
            raise ImageTooLarge(
                f"The image is {width}x{height} = {_megapixels(pixels)} megapixels; "
                f"the limit is {_megapixels(max_pixels)} megapixels.",
                detail={"width": width, "height": height, "max_pixels": max_pixels},
            )
        if image.format != "JPEG" and pixels > FULL_DECODE_MAX_PIXELS:
            raise ImageTooLarge(
                f"The image is {width}x{height} = {_megapixels(pixels)} megapixels; "
                f"{image.format} images are limited to "
                f"{_megapixels(FULL_DECODE_MAX_PIXELS)} megapixels.",
                detail={
                    "width": width,
                    "height": height,
                    "max_pixels": FULL_DECODE_MAX_PIXELS,
                },
            )
        if budget is not None:
            budget.spend(pixels)
        if image.format == "JPEG" and pixels > work_pixels:
            # libjpeg decodes at 1/2, 1/4 or 1/8 scale for the price of that size, keeping at
            # least the requested size, so the result is still resized below.
            factor = math.sqrt(work_pixels / pixels)
            image.draft(None, (math.ceil(width * factor), math.ceil(height * factor)))
        image.load()
        return _upright_rgb(image, original_width=width, work_pixels=work_pixels)
    except (OSError, SyntaxError, EOFError, ValueError, struct.error, zlib.error) as exc:
        # Pillow signals a short or damaged file with OSError ("image file is truncated"),
        # SyntaxError (bad PNG chunk / CRC) or the decoder's own errors; all mean the same thing
        # to the person who uploaded it, and the decoder's own words stay in the log.
        logger.info("image refused as corrupt: %s: %s", type(exc).__name__, exc)
        raise CorruptImage("The image is truncated or corrupt.") from exc
    finally:
        image.close()


def _upright_rgb(image: Image.Image, *, original_width: int, work_pixels: int) -> DecodedImage:
    """The loaded image shrunk to ``work_pixels``, turned upright, as an RGB array."""
    width, height = image.size
    if width * height > work_pixels:
        image = _resizable(image)
        factor = math.sqrt(work_pixels / (width * height))
        size = (max(1, math.floor(width * factor)), max(1, math.floor(height * factor)))
        # reducing_gap: box-average by an integer factor first, then resample the small rest.
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    scale = original_width / image.size[0]
    # In place: the copy exif_transpose would otherwise make doubles peak memory. (A resized
    # image keeps the EXIF block in ``info``, so its orientation is still known.)
    ImageOps.exif_transpose(image, in_place=True)
    return DecodedImage(pixels=_to_rgb_array(image), scale=scale)


def _resizable(image: Image.Image) -> Image.Image:
    """The image in a mode Pillow resizes by averaging (palette and 1-bit would be sampled)."""
    if image.mode == "P":
        return image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
    if image.mode == "1":
        return image.convert("L")
    if image.mode == "CMYK":
        return image.convert("RGB")
    return image


def _open_header(data: bytes) -> ImageFile.ImageFile:
    """Parse only the header with the plugin for the sniffed format (no pixel data is read).

    ``Image.open`` would do the same but first runs Pillow's global decompression-bomb check,
    which warns or fails against ``Image.MAX_IMAGE_PIXELS`` instead of the caller's limit and
    without the dimensions we want in the message; constructing the plugin class directly keeps
    the lazy header parse and lets ``decode_image`` apply its own limit.
    """
    kind = sniff_image_type(data)
    if kind is None:
        other = _other_image_format(data)
        if other is not None:
            raise UnsupportedImageFormat(
                f"{other} images are not supported; send a JPEG, PNG or WebP image.",
                detail={"detected": other},
            )
        detected = describe_content(data)
        raise NotAnImage(
            f"The file is not an image (detected: {detected}).", detail={"detected": detected}
        )
    stream = io.BytesIO(data)
    try:
        if kind == "jpeg":
            return JpegImagePlugin.JpegImageFile(stream)
        if kind == "png":
            return PngImagePlugin.PngImageFile(stream)
        # Imported here: the WebP plugin loads libwebp, which the JPEG/PNG paths do not need.
        from PIL import WebPImagePlugin

        return WebPImagePlugin.WebPImageFile(stream)
    except Image.DecompressionBombError as exc:
        # The WebP plugin runs Pillow's global check while parsing; its limit is far above ours.
        raise ImageTooLarge("The image has too many pixels to be processed.") from exc
    except (OSError, SyntaxError, EOFError, ValueError, struct.error) as exc:
        logger.info("image refused as corrupt: %s: %s", type(exc).__name__, exc)
        raise CorruptImage("The image is truncated or corrupt.") from exc


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        # 16-bit PNGs arrive as "I;16"/"I": Pillow's convert("RGB") would clip every value above
        # 255 to white, so scale the full range down instead.
        wide = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I") else max(float(wide.max()), 1.0)
        grey = np.clip(np.rint(wide * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "P":
        # Palette images may carry transparency in the palette; convert through RGBA to honour it.
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        # Flatten onto white: transparent areas of cut-out portraits usually hold black or junk
        # pixels, and a white background is what a person viewing the image sees.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8).copy()


def _refuse_truncated_images() -> None:
    # ``import face_recognition`` sets Pillow's process-wide LOAD_TRUNCATED_IMAGES to True, after
    # which a half-uploaded JPEG decodes "successfully" with a grey bottom half. The registry must
    # reject such files, so the documented default is restored (once, loudly) before decoding.
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        logger.warning(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES was switched on (face_recognition does this on "
            "import); switching it off so truncated uploads are rejected."
        )
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def _other_image_format(data: bytes) -> str | None:
    head = bytes(data[:16])
    for signature, name in _OTHER_IMAGE_SIGNATURES:
        if head.startswith(signature):
            return name
    if head[4:8] == b"ftyp":
        return _FTYP_IMAGE_BRANDS.get(head[8:12])
    return None


def _looks_like_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    # Undecodable bytes become U+FFFD, which is not counted as printable; a character cut in two
    # at the end of the sample costs at most one of them.
    text = sample.decode("utf-8", errors="replace")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text if ch != "\ufffd")
    return printable >= 0.95 * len(text)


def _megapixels(pixels: int) -> str:
    value = pixels / 1_000_000
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
