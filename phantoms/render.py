"""Draws a FaceParams as a stylised, anti-aliased portrait (drawn at 2x, then downsampled)."""

from __future__ import annotations

import math
from typing import cast

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from phantoms.face import FaceParams, face_params, individual_rng

_SUPERSAMPLE = 2
_FACE_CENTRE_Y = 0.08  # faces sit slightly low so hair fits above them

Point = tuple[float, float]
Colour = tuple[float, float, float]


class _Canvas:
    """Maps canvas units (-1..1) to pixels so drawing code never thinks in pixels."""

    def __init__(self, size: int, background: Colour) -> None:
        self.size = size
        self.image = Image.new("RGB", (size, size), _rgb(background))
        self.draw = ImageDraw.Draw(self.image)

    def px(self, p: Point) -> tuple[float, float]:
        return ((p[0] * 0.5 + 0.5) * self.size, (p[1] * 0.5 + 0.5) * self.size)

    def length(self, d: float) -> float:
        return d * 0.5 * self.size

    def polygon(self, points: list[Point], fill: Colour) -> None:
        self.draw.polygon([self.px(p) for p in points], fill=_rgb(fill))

    def ellipse(self, centre: Point, rx: float, ry: float, fill: Colour) -> None:
        cx, cy = self.px(centre)
        rxp, ryp = self.length(rx), self.length(ry)
        self.draw.ellipse([cx - rxp, cy - ryp, cx + rxp, cy + ryp], fill=_rgb(fill))

    def line(self, points: list[Point], fill: Colour, width: float) -> None:
        self.draw.line(
            [self.px(p) for p in points],
            fill=_rgb(fill),
            width=max(1, round(self.length(width))),
            joint="curve",
        )


def _rgb(c: Colour) -> tuple[int, int, int]:
    # Plain min/max: np.clip on a scalar costs a fifth of a whole portrait's drawing time.
    r, g, b = (min(255, max(0, round(v))) for v in c)
    return r, g, b


def _shade(c: Colour, factor: float) -> Colour:
    return (c[0] * factor, c[1] * factor, c[2] * factor)


def _blend(a: Colour, b: Colour, t: float) -> Colour:
    return (a[0] * (1 - t) + b[0] * t, a[1] * (1 - t) + b[1] * t, a[2] * (1 - t) + b[2] * t)


def _rotated_ellipse(centre: Point, rx: float, ry: float, angle_deg: float, n: int = 40) -> list[Point]:
    a = math.radians(angle_deg)
    pts = []
    for t in np.linspace(0, 2 * math.pi, n, endpoint=False):
        x, y = rx * math.cos(t), ry * math.sin(t)
        pts.append(
            (
                centre[0] + x * math.cos(a) - y * math.sin(a),
                centre[1] + x * math.sin(a) + y * math.cos(a),
            )
        )
    return pts


def face_outline(p: FaceParams, n: int = 120) -> list[Point]:
    """Oval upper head; superellipse lower face narrowed towards the chin by jaw_taper."""
    pts = []
    for t in np.linspace(0, 2 * math.pi, n, endpoint=False):
        c, s = math.cos(t), math.sin(t)
        if s > 0:  # lower half: squareness widens the jaw corners, taper narrows the chin
            e = 2.0 / max(p.squareness, 1.2)
            x = p.face_width * math.copysign(abs(c) ** e, c)
            y = p.face_height * abs(s) ** e
            x *= 1.0 - max(-0.3, min(0.6, p.jaw_taper)) * (y / p.face_height) ** 2
        else:
            x, y = p.face_width * c, p.face_height * 0.95 * s
        pts.append((x, y + _FACE_CENTRE_Y))
    return pts


def _draw_back_hair(cv: _Canvas, p: FaceParams) -> None:
    top = _FACE_CENTRE_Y - p.face_height * 0.95 - 0.08
    bottom = _FACE_CENTRE_Y + 0.1 + 0.55 * p.hair_length
    w = p.face_width + 0.09
    cv.ellipse((0.0, (top + _FACE_CENTRE_Y) / 2 + 0.02), w, (_FACE_CENTRE_Y - top) / 2 + 0.12, p.hair)
    if p.hair_length > 0.35:
        cv.polygon(
            [
                (-w, _FACE_CENTRE_Y - 0.1),
                (w, _FACE_CENTRE_Y - 0.1),
                (w * 0.97, bottom),
                (-w * 0.97, bottom),
            ],
            p.hair,
        )


def _draw_body(cv: _Canvas, p: FaceParams) -> None:
    neck_top = _FACE_CENTRE_Y + p.face_height * 0.6
    nw = p.face_width * 0.45
    cv.polygon([(-nw, neck_top), (nw, neck_top), (nw * 1.1, 1.0), (-nw * 1.1, 1.0)], _shade(p.skin, 0.85))
    chin = _FACE_CENTRE_Y + p.face_height
    cv.ellipse((0.0, chin + 0.5), 0.95, 0.4, p.shirt)


def _draw_ear(cv: _Canvas, p: FaceParams, side: int) -> None:
    eye_y = _eye_y(p)
    centre = (side * (p.face_width + p.ear_size * 0.12), eye_y + p.ear_drop)
    angle = side * p.ear_rotation  # posterior rotation tips the top of each ear backwards
    cv.polygon(_rotated_ellipse(centre, p.ear_size * 0.5, p.ear_size, angle), _shade(p.skin, 0.9))
    inner = (centre[0] + side * 0.015, centre[1])
    cv.polygon(_rotated_ellipse(inner, p.ear_size * 0.25, p.ear_size * 0.62, angle), _shade(p.skin, 0.75))


def _eye_y(p: FaceParams) -> float:
    return _FACE_CENTRE_Y - 0.1 + 0.05 * (1 - p.age)


def _draw_fringe(cv: _Canvas, p: FaceParams, outline: list[Point]) -> None:
    hairline = _FACE_CENTRE_Y + p.hairline + 0.12
    above = [pt for pt in outline if pt[1] < hairline]
    if len(above) < 3:
        return
    xs = [pt[0] for pt in above]
    left, right = min(xs), max(xs)
    # a wavy lower edge, the wave depth set by the individual's fringe
    wave = [(x, hairline + 0.03 * p.fringe * math.sin(9 * x + 2 * p.fringe)) for x in np.linspace(right, left, 24)]
    cv.polygon(sorted(above, key=lambda q: math.atan2(q[1] - hairline, q[0])) + wave, p.hair)


def _eye_points(p: FaceParams, side: int, upper: bool, n: int = 16) -> list[Point]:
    """Lid curve in canvas units; local dx is positive outwards so slant is symmetric."""
    cx, cy = side * p.eye_spacing, _eye_y(p)
    a = math.radians(p.fissure_slant)
    pts = []
    for dx in np.linspace(-p.eye_width, p.eye_width, n):
        u = 1 - (dx / p.eye_width) ** 2
        dy = -p.eye_open * u**0.7 if upper else p.eye_open * 0.75 * u**0.9
        # rotate so the outer canthus (dx > 0) rises for positive slant
        rx = dx * math.cos(a) + dy * math.sin(a)
        ry = -dx * math.sin(a) + dy * math.cos(a)
        pts.append((cx + side * rx, cy + ry))
    return pts


def _draw_eye(cv: _Canvas, p: FaceParams, side: int) -> None:
    upper = _eye_points(p, side, upper=True)
    lower = _eye_points(p, side, upper=False)
    almond = upper + lower[::-1]
    cv.polygon(almond, (245, 243, 238))
    # the iris is clipped to the fissure through a mask so narrow eyes show less iris
    iris_layer = Image.new("RGB", cv.image.size, _rgb(p.iris))
    iris_mask = Image.new("L", cv.image.size, 0)
    ImageDraw.Draw(iris_mask).polygon([cv.px(q) for q in almond], fill=255)
    disc = Image.new("L", cv.image.size, 0)
    cx, cy = side * p.eye_spacing, _eye_y(p)
    r = p.eye_open * 1.05
    dx, dy = cv.px((cx, cy)), cv.length(r)
    ImageDraw.Draw(disc).ellipse([dx[0] - dy, dx[1] - dy, dx[0] + dy, dx[1] + dy], fill=255)
    cv.image.paste(iris_layer, (0, 0), ImageChops.multiply(iris_mask, disc))
    cv.ellipse((cx, cy), r * 0.45, r * 0.45, (15, 12, 12))
    cv.ellipse((cx - r * 0.3, cy - r * 0.3), r * 0.15, r * 0.15, (250, 250, 250))
    cv.line(upper, _shade(p.hair, 0.6), 0.012)
    cv.line(lower, _shade(p.skin, 0.7), 0.005)


def _draw_brow(cv: _Canvas, p: FaceParams, side: int) -> None:
    base_y = _eye_y(p) - p.brow_gap
    inner = p.eye_spacing - p.eye_width * 1.1
    outer = p.eye_spacing + p.eye_width * 1.25
    xs = np.linspace(inner, outer, 20)
    mid, half = (inner + outer) / 2 + 0.015, (outer - inner) / 2
    top, bottom = [], []
    for x in xs:
        u = max(0.0, 1 - ((x - mid) / half) ** 2)
        y = base_y - p.brow_arch * u
        thick = p.brow_thickness * (0.55 + 0.45 * u**0.5) * (1.0 if x < outer - 0.02 else 0.6)
        top.append((side * x, y - thick / 2))
        bottom.append((side * x, y + thick / 2))
    colour = _shade(p.hair, 0.8)
    cv.polygon(top + bottom[::-1], colour)
    if p.synophrys > 0:  # a bridge of hair between the brows, as wide as the synophrys
        y = base_y
        w = p.brow_thickness * 0.7 * p.synophrys
        cv.polygon(
            [(-inner, y - w / 2), (inner, y - w / 2), (inner, y + w / 2), (-inner, y + w / 2)],
            colour,
        )


def _nose_tip_y(p: FaceParams) -> float:
    return _eye_y(p) + p.nose_length


def _draw_nose(cv: _Canvas, p: FaceParams) -> None:
    tip = _nose_tip_y(p)
    shadow = _shade(p.skin, 0.8)
    cv.line([(-0.03, _eye_y(p) + 0.02), (-0.035, tip - 0.04)], _shade(p.skin, 0.9), 0.01)
    cv.ellipse((0.0, tip - 0.01), p.nose_width * 0.55, 0.035, _shade(p.skin, 1.04))
    cv.ellipse((-p.nose_width * 0.75, tip - 0.005), p.nose_width * 0.4, 0.028, _shade(p.skin, 0.96))
    cv.ellipse((p.nose_width * 0.75, tip - 0.005), p.nose_width * 0.4, 0.028, _shade(p.skin, 0.96))
    for side in (-1, 1):
        cv.ellipse((side * p.nose_width * 0.45, tip + 0.012), p.nose_width * 0.22, 0.01, shadow)


def _draw_mouth(cv: _Canvas, p: FaceParams) -> None:
    base = _nose_tip_y(p) + 0.03
    mouth_y = base + p.philtrum
    lip = _blend(p.skin, (180, 70, 75), 0.45)
    # philtral ridges: two faint lines from nose base to upper lip
    for side in (-1, 1):
        cv.line(
            [(side * 0.02, base), (side * 0.026, mouth_y - p.upper_lip * 0.8)],
            _shade(p.skin, 0.9),
            0.008,
        )
    xs = np.linspace(-p.mouth_width, p.mouth_width, 24)

    def corner_lift(x: float) -> float:
        return p.mouth_curve * (x / p.mouth_width) ** 2

    upper_top = [
        (
            x,
            mouth_y
            - corner_lift(x)
            - p.upper_lip * (1 - (x / p.mouth_width) ** 2) * (1 - 0.35 * math.exp(-((x / 0.03) ** 2))),
        )
        for x in xs
    ]
    seam = [(x, mouth_y - corner_lift(x)) for x in xs]
    lower_bottom = [(x, mouth_y - corner_lift(x) + p.lower_lip * (1 - (x / p.mouth_width) ** 2) ** 0.8) for x in xs]
    cv.polygon(upper_top + seam[::-1], _shade(lip, 0.9))
    cv.polygon(seam + lower_bottom[::-1], lip)
    cv.line(seam, _shade(lip, 0.5), 0.008)


def _apply_pose_and_light(img: Image.Image, p: FaceParams, rng: np.random.Generator) -> Image.Image:
    size = img.size[0]
    img = img.rotate(
        p.roll,
        resample=Image.Resampling.BICUBIC,
        center=(size / 2 + p.shift_x * size / 2, size / 2),
        # Pillow annotates translate as ints, but its affine matrix takes float offsets (sub-pixel
        # shifts, as intended here): the annotation is narrower than the implementation
        translate=cast(tuple[int, int], (p.shift_x * size / 2, p.shift_y * size / 2)),
        fillcolor=_rgb(p.background),
    )
    if abs(p.scale - 1.0) > 1e-6:  # zoom about the centre, cropping or padding with background
        scaled = img.resize((round(size * p.scale),) * 2, Image.Resampling.BICUBIC)
        canvas = Image.new("RGB", (size, size), _rgb(p.background))
        off = (size - scaled.size[0]) // 2
        canvas.paste(scaled, (off, off))
        img = canvas
    img = img.filter(ImageFilter.GaussianBlur(radius=size / 400))  # soften flat-shaded edges
    arr = np.asarray(img, dtype=np.float32)
    ys, xs = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    light = 1 + p.light_strength * (xs * math.cos(p.light_angle) + ys * math.sin(p.light_angle))
    vignette = 1 - 0.12 * (xs**2 + ys**2)
    arr = arr * (light * vignette)[..., None] + rng.normal(0, 2.0, size=arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def draw_face(p: FaceParams, size: int, rng: np.random.Generator) -> Image.Image:
    cv = _Canvas(size * _SUPERSAMPLE, p.background)
    outline = face_outline(p)
    _draw_back_hair(cv, p)
    _draw_body(cv, p)
    for side in (-1, 1):
        _draw_ear(cv, p, side)
    cv.polygon(outline, p.skin)
    for side in (-1, 1):  # soft cheeks
        cv.ellipse(
            (side * p.face_width * 0.55, _nose_tip_y(p)),
            0.09,
            0.06,
            _blend(p.skin, (220, 120, 120), 0.12),
        )
    _draw_fringe(cv, p, outline)
    for side in (-1, 1):
        _draw_brow(cv, p, side)
        _draw_eye(cv, p, side)
    _draw_nose(cv, p)
    _draw_mouth(cv, p)
    big = _apply_pose_and_light(cv.image, p, rng)
    return big.resize((size, size), Image.Resampling.LANCZOS)


def render_portrait(disorder: str, individual: int, size: int = 256, spread: float = 1.0) -> Image.Image:
    """An RGB size x size portrait, the same pixels for the same (disorder, individual, size,
    spread); spread widens the individual variation of the face's geometry (see base_params)."""
    if size < 16:
        raise ValueError(f"size must be at least 16 px, got {size}")
    params = face_params(disorder, individual, spread)
    # a second stream for pixel noise so adding noise never perturbs the face parameters
    noise_rng = individual_rng(disorder + "/noise", individual)
    return draw_face(params, size, noise_rng)
