"""Colormaps: how each layer's values become palette indices and colours.

Every layer is drawn through a 256-entry RGBA palette. Index 0 is always
fully transparent (nodata, and cells a style chooses not to draw); indices
1-255 carry the colours. A :class:`Style` turns a layer's values into
``uint8`` palette indices once, when the layer is prepared, so that drawing
a tile is only indexing and PNG encoding.

Which style a layer gets depends on its manifest ``kind`` and its name:

=================================  ===============================================
layer                              style
=================================  ===============================================
``received_power_*``,              continuous ``signal`` ramp (red weak, green
``second_power_*``                 strong), linear over the value range
``dominance_*``                    continuous ``blues``, linear
``*population*``                   continuous ``heat``, log scale, 0 not drawn
``elevation``                      continuous ``terrain``, linear
other continuous                   ``viridis``, linear
categorical with categories        one colour per class (technologies and
                                   urbanisation classes have fixed colours)
categorical without categories,    cycling qualitative colours (one per site-table
and every ``best_server_*``        row), negative values (no server) not drawn
boolean                            0 red, 1 green, both translucent
hillshade                          opaque grey ramp (the base layer)
=================================  ===============================================

Linear ramps span the 2nd-98th percentiles of the layer's valid cells (values
beyond are clipped to the end colours); log ramps and grey hillshade span the
manifest's ``value_range`` (or the data's min-max when it has none). The
legend reports the range actually used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from covgap.results import Layer

__all__ = ["Style", "STYLE_VERSION", "style_for", "RAMPS"]

#: Bumped whenever a colour changes, so that clients drop cached tiles (ETag).
STYLE_VERSION = "1"

#: Anchor colours (RGB) of the continuous ramps, evenly spaced from low to high.
RAMPS: dict[str, list[tuple[int, int, int]]] = {
    "signal": [(165, 0, 38), (215, 48, 39), (244, 109, 67), (253, 174, 97), (254, 224, 139),
               (217, 239, 139), (166, 217, 106), (102, 189, 99), (26, 152, 80), (0, 104, 55)],
    "viridis": [(68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
                (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37)],
    "heat": [(255, 255, 178), (254, 217, 118), (254, 178, 76), (253, 141, 60), (252, 78, 42),
             (227, 26, 28), (189, 0, 38), (128, 0, 38)],
    "blues": [(222, 235, 247), (158, 202, 225), (107, 174, 214), (49, 130, 189), (8, 81, 156),
              (8, 48, 107)],
    "terrain": [(0, 104, 55), (49, 163, 84), (120, 198, 121), (194, 230, 153), (255, 255, 191),
                (223, 194, 125), (166, 97, 26), (140, 81, 10), (255, 255, 255)],
    "grey": [(0, 0, 0), (255, 255, 255)],
}

#: Fixed colours of well-known class labels (case-insensitive).
LABEL_COLOURS: dict[str, tuple[int, int, int]] = {
    "none": (189, 189, 189),
    "no coverage": (189, 189, 189),
    "2g": (228, 26, 28),
    "3g": (255, 127, 0),
    "4g": (55, 126, 184),
    "5g": (152, 78, 163),
    "rural": (161, 217, 155),
    "urban cluster": (253, 174, 107),
    "urban centre": (215, 48, 39),
    "urban center": (215, 48, 39),
}

#: Qualitative colours for classes without a fixed colour (Tableau 10).
QUALITATIVE: list[tuple[int, int, int]] = [
    (78, 121, 167), (242, 142, 43), (225, 87, 89), (118, 183, 178), (89, 161, 79),
    (237, 201, 72), (176, 122, 161), (255, 157, 167), (156, 117, 95), (186, 176, 172),
]

#: Alpha of overlay colours (0-255); the base hillshade is opaque.
OVERLAY_ALPHA = 210
#: Palette indices a continuous ramp spreads over.
RAMP_STEPS = 255

StyleKind = Literal["continuous", "categorical", "boolean", "hillshade"]
Scale = Literal["linear", "log"]


@dataclass(frozen=True)
class Style:
    """How one layer is coloured.

    Attributes
    ----------
    colormap : str
        Ramp name (continuous, hillshade) or ``"classes"``.
    kind : str
        The layer's kind.
    palette : numpy.ndarray
        ``(256, 4)`` uint8 RGBA; entry 0 is transparent.
    vmin, vmax : float
        Value range the ramp spans (continuous and hillshade).
    scale : str
        ``"linear"`` or ``"log"`` (``log1p`` of ``value - vmin``).
    classes : tuple of (value, label, palette index)
        The classes of categorical and boolean layers.
    zero_transparent : bool
        Whether cells equal to 0 are left undrawn.
    """

    colormap: str
    kind: StyleKind
    palette: np.ndarray
    vmin: float = 0.0
    vmax: float = 1.0
    scale: Scale = "linear"
    classes: tuple[tuple[int, str, int], ...] = ()
    zero_transparent: bool = False

    @property
    def png_palette(self) -> bytes:
        """The palette's RGB bytes (768) for ``Image.putpalette``."""
        return self.palette[:, :3].tobytes()

    @property
    def png_alpha(self) -> bytes:
        """The palette's alpha bytes (256), written as the PNG tRNS chunk."""
        return self.palette[:, 3].tobytes()

    def encode(self, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Turn values into palette indices (uint8, 0 where not drawn).

        Parameters
        ----------
        values : numpy.ndarray
            2-D layer values.
        valid : numpy.ndarray
            Boolean mask of the cells holding data.

        Returns
        -------
        numpy.ndarray
            uint8 array of the same shape.
        """
        draw = valid.copy()
        if self.zero_transparent:
            draw &= values != 0
        out = np.zeros(values.shape, dtype=np.uint8)
        if self.kind in ("continuous", "hillshade"):
            t = self._normalise(values[draw].astype(np.float64))
            out[draw] = 1 + np.rint(t * (RAMP_STEPS - 1)).astype(np.uint8)
        elif self.classes:
            lut = {value: index for value, _, index in self.classes}
            cells = values[draw]
            idx = np.zeros(cells.shape, dtype=np.uint8)
            for value, index in lut.items():
                idx[cells == value] = index
            out[draw] = idx
        else:
            cells = values[draw].astype(np.int64)
            idx = np.where(cells >= 0, 1 + np.mod(cells, len(QUALITATIVE)), 0)
            out[draw] = idx.astype(np.uint8)
        return out

    def _normalise(self, v: np.ndarray) -> np.ndarray:
        span = self.vmax - self.vmin
        if span <= 0:
            return np.full(v.shape, 0.5)
        if self.scale == "log":
            t = np.log1p(np.clip(v - self.vmin, 0, None)) / np.log1p(span)
        else:
            t = (v - self.vmin) / span
        return np.clip(t, 0.0, 1.0)

    def legend(self) -> dict[str, Any]:
        """The legend as JSON: ramp stops or classes with CSS colours."""
        doc: dict[str, Any] = {"colormap": self.colormap, "kind": self.kind}
        if self.kind in ("continuous", "hillshade"):
            stops = []
            for i in range(9):
                t = i / 8
                if self.scale == "log":
                    value = self.vmin + np.expm1(t * np.log1p(self.vmax - self.vmin))
                else:
                    value = self.vmin + t * (self.vmax - self.vmin)
                index = 1 + int(round(t * (RAMP_STEPS - 1)))
                stops.append({"value": float(value), "color": _css(self.palette[index])})
            doc.update(vmin=self.vmin, vmax=self.vmax, scale=self.scale, stops=stops,
                       zero_transparent=self.zero_transparent)
        else:
            doc["classes"] = [
                {"value": value, "label": label, "color": _css(self.palette[index])}
                for value, label, index in self.classes
            ]
            if not self.classes:
                doc["note"] = "one colour per value, cycling; negative values are not drawn"
        return doc


def style_for(layer: Layer, data_range: tuple[float, float] | None = None,
              stretch: tuple[float, float] | None = None) -> Style:
    """Choose the style of a layer from its kind and name.

    Parameters
    ----------
    layer : covgap.results.Layer
        The layer (kind, name, value range and categories are used).
    data_range : tuple of float, optional
        ``(min, max)`` of the valid cells, used when the manifest has no
        ``value_range``.
    stretch : tuple of float, optional
        Range a linear ramp spans (e.g. the 2nd-98th percentiles of the
        data), so that a few extreme cells do not wash out the map. Log-scale
        ramps (population) keep the full range.

    Returns
    -------
    Style
    """
    vmin, vmax = layer.value_range or data_range or (0.0, 1.0)
    name = layer.name
    if layer.kind == "hillshade":
        if layer.value_range is None and data_range is None:
            vmin, vmax = 0.0, 255.0
        return Style("grey", "hillshade", _ramp_palette(RAMPS["grey"], alpha=255), vmin, vmax)
    if layer.kind == "boolean":
        labels = layer.categories or {0: "no", 1: "yes"}
        palette = np.zeros((256, 4), dtype=np.uint8)
        palette[1] = (215, 48, 39, 150)
        palette[2] = (26, 152, 80, 150)
        classes = tuple((v, labels.get(v, str(v)), 1 + int(bool(v))) for v in (0, 1))
        return Style("boolean", "boolean", palette, classes=classes)
    if layer.kind == "categorical" or name.startswith("best_server"):
        palette = np.zeros((256, 4), dtype=np.uint8)
        if not layer.categories:
            for i, colour in enumerate(QUALITATIVE):
                palette[1 + i] = (*colour, OVERLAY_ALPHA)
            return Style("classes", "categorical", palette)
        classes = []
        spare = iter(QUALITATIVE * 26)
        for i, (value, label) in enumerate(sorted(layer.categories.items())[:255]):
            colour = LABEL_COLOURS.get(label.strip().lower()) or next(spare)
            palette[1 + i] = (*colour, OVERLAY_ALPHA)
            classes.append((value, label, 1 + i))
        return Style("classes", "categorical", palette, classes=tuple(classes))
    if name.startswith(("received_power", "second_power")):
        ramp, scale, zero = "signal", "linear", False
    elif name.startswith("dominance"):
        ramp, scale, zero = "blues", "linear", False
    elif "population" in name:
        ramp, scale, zero = "heat", "log", True
    elif name == "elevation":
        ramp, scale, zero = "terrain", "linear", False
    else:
        ramp, scale, zero = "viridis", "linear", False
    if stretch is not None and scale == "linear":
        vmin, vmax = stretch
    palette = _ramp_palette(RAMPS[ramp], alpha=OVERLAY_ALPHA)
    return Style(ramp, "continuous", palette, float(vmin), float(vmax), scale, zero_transparent=zero)


def _ramp_palette(anchors: list[tuple[int, int, int]], *, alpha: int) -> np.ndarray:
    """A palette with index 0 transparent and 1-255 interpolating ``anchors``."""
    anchors_arr = np.asarray(anchors, dtype=np.float64)
    t = np.linspace(0.0, 1.0, RAMP_STEPS)
    at = np.linspace(0.0, 1.0, len(anchors))
    palette = np.zeros((256, 4), dtype=np.uint8)
    for channel in range(3):
        palette[1:, channel] = np.rint(np.interp(t, at, anchors_arr[:, channel]))
    palette[1:, 3] = alpha
    return palette


def _css(rgba: np.ndarray) -> str:
    r, g, b, a = (int(v) for v in rgba)
    return f"rgba({r},{g},{b},{a / 255:.2f})"
