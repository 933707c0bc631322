"""BlurHash encoder (https://blurha.sh, the published algorithm), for image placeholders.

Mastodon and its apps show ``blurhash`` while an attachment loads. The hash is a DCT of the
image in linear RGB, ``x_components`` by ``y_components`` factors, quantised and written in
base 83. Written from the algorithm description; works on a small RGB Pillow image in pure Python.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
_SAMPLE = 32  # the image is reduced to at most this many pixels on its long side first


def base83(value: int, length: int) -> str:
    """``value`` written in BlurHash's base 83 with exactly ``length`` digits."""
    return "".join(_BASE83[(value // 83 ** (length - i - 1)) % 83] for i in range(length))


def _to_linear(channel: int) -> float:
    v = channel / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def _to_srgb(value: float) -> int:
    v = min(1.0, max(0.0, value))
    if v <= 0.0031308:
        return int(v * 12.92 * 255 + 0.5)
    return int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)


def _sign_pow(value: float, exponent: float) -> float:
    return math.copysign(abs(value) ** exponent, value)


def encode(image: Image.Image, x_components: int = 4, y_components: int = 3) -> str:
    """The BlurHash of ``image`` (any mode); ``x/y_components`` in 1..9.

    Guarantees a string of ``4 + 2 * x * y`` base-83 characters, deterministic for a given image.
    """
    if not (1 <= x_components <= 9 and 1 <= y_components <= 9):
        raise ValueError("BlurHash components must be between 1 and 9")
    small = image.convert("RGB")
    small.thumbnail((_SAMPLE, _SAMPLE))
    width, height = small.size
    raw = small.tobytes()
    pixels = [(_to_linear(raw[k]), _to_linear(raw[k + 1]), _to_linear(raw[k + 2])) for k in range(0, len(raw), 3)]

    factors: list[tuple[float, float, float]] = []
    for j in range(y_components):
        cos_y = [math.cos(math.pi * j * y / height) for y in range(height)]
        for i in range(x_components):
            cos_x = [math.cos(math.pi * i * x / width) for x in range(width)]
            r = g = b = 0.0
            for y in range(height):
                row = y * width
                for x in range(width):
                    basis = cos_x[x] * cos_y[y]
                    pr, pg, pb = pixels[row + x]
                    r += basis * pr
                    g += basis * pg
                    b += basis * pb
            scale = (1 if i == j == 0 else 2) / (width * height)
            factors.append((r * scale, g * scale, b * scale))

    dc, ac = factors[0], factors[1:]
    out = base83((x_components - 1) + (y_components - 1) * 9, 1)
    if ac:
        actual_max = max(abs(c) for f in ac for c in f)
        quantised_max = int(max(0, min(82, math.floor(actual_max * 166 - 0.5))))
        maximum = (quantised_max + 1) / 166
        out += base83(quantised_max, 1)
    else:
        maximum = 1.0
        out += base83(0, 1)
    out += base83((_to_srgb(dc[0]) << 16) + (_to_srgb(dc[1]) << 8) + _to_srgb(dc[2]), 4)
    for factor in ac:
        q = [int(max(0, min(18, math.floor(_sign_pow(c / maximum, 0.5) * 9 + 9.5)))) for c in factor]
        out += base83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2)
    return out


def average_colour(blurhash: str) -> tuple[int, int, int]:
    """The sRGB average colour a BlurHash encodes (its DC term), for checks and placeholders."""
    value = 0
    for char in blurhash[2:6]:
        value = value * 83 + _BASE83.index(char)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255
