"""Colour-blind-safe colours, fixed per attribution method and per model across every figure.

Colours come from the Okabe-Ito palette (Okabe & Ito, "Color Universal Design", 2008), which stays distinguishable
under the common colour-vision deficiencies. White-box methods get the seven chromatic Okabe-Ito colours and black;
the black-box references (RISE, Occlusion) get two greys, since figures draw them as reference lines. Models get their
own fixed colours. Any other name gets a deterministic colour picked by a CRC-32 hash of the name, so it is the same
in every figure, session and machine.

Colour maps: sequential (unsigned) maps use :data:`SEQUENTIAL_CMAP`, signed maps use the diverging
:data:`DIVERGING_CMAP` centred at zero; both are perceptually uniform or balanced and colour-blind-safe.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

#: The Okabe-Ito palette, by colour name.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: Fixed colours of the attribution methods known to forgrad_viz.
METHOD_COLORS: dict[str, str] = {
    "saliency": OKABE_ITO["blue"],
    "gradient_input": OKABE_ITO["vermillion"],
    "integrated_gradients": OKABE_ITO["bluish_green"],
    "smoothgrad": OKABE_ITO["reddish_purple"],
    "squaregrad": OKABE_ITO["orange"],
    "vargrad": OKABE_ITO["sky_blue"],
    "guided_backprop": OKABE_ITO["yellow"],
    "gradcam": OKABE_ITO["black"],
    "occlusion": "#999999",
    "rise": "#555555",
}

#: Fixed colours of the shipped demo models.
MODEL_COLORS: dict[str, str] = {
    "maxpool_cnn": OKABE_ITO["vermillion"],
    "strided_cnn": OKABE_ITO["blue"],
    "antialiased_cnn": OKABE_ITO["bluish_green"],
    "patch_vit": OKABE_ITO["reddish_purple"],
}

#: Colours for names not listed above, chosen by hash (yellow left out: too pale on white for a lone line).
FALLBACK_COLORS: tuple[str, ...] = (
    OKABE_ITO["blue"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["orange"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["black"],
)

#: Colour map of unsigned maps (perceptually uniform, dark = 0).
SEQUENTIAL_CMAP = "magma"
#: Colour map of signed maps (diverging, white = 0, used with limits symmetric about 0).
DIVERGING_CMAP = "RdBu_r"


def _key(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a string; got {type(name).__name__}")
    return name.strip().lower()


def fallback_color(name: str) -> str:
    """A deterministic colour for any name: ``FALLBACK_COLORS[crc32(name) % len(FALLBACK_COLORS)]``.

    Examples
    --------
    >>> fallback_color("resnet50") == fallback_color("resnet50")
    True
    """
    return FALLBACK_COLORS[zlib.crc32(_key(name).encode("utf-8")) % len(FALLBACK_COLORS)]


def method_color(name: str) -> str:
    """The colour of an attribution method (case-insensitive), or a hash-based colour for unknown names.

    Examples
    --------
    >>> method_color("saliency")
    '#0072B2'
    """
    return METHOD_COLORS.get(_key(name)) or fallback_color(name)


def model_color(name: str) -> str:
    """The colour of a model; names are matched and unknown names coloured as in :func:`method_color`.

    >>> model_color("maxpool_cnn")
    '#D55E00'
    """
    return MODEL_COLORS.get(_key(name)) or fallback_color(name)


def color_for(name: str) -> str:
    """The colour of a label that may name a method or a model: methods first, then models, then the hash.

    Examples
    --------
    >>> color_for("patch_vit") == model_color("patch_vit")
    True
    """
    key = _key(name)
    return METHOD_COLORS.get(key) or MODEL_COLORS.get(key) or fallback_color(name)


def colors_for(names: Sequence[str]) -> list[str]:
    """One colour per name, distinct within the list: :func:`color_for` unless a name's colour is taken already
    (a hash collision, or two labels that name no known method or model), then the first free palette colour.

    Examples
    --------
    >>> a, b = colors_for(["saliency on model A", "rise on model A"])
    >>> a != b
    True
    """
    palette = list(dict.fromkeys([*METHOD_COLORS.values(), *MODEL_COLORS.values(), *FALLBACK_COLORS]))
    colors: list[str] = []
    for name in names:
        color = color_for(name)
        if color in colors:
            color = next((c for c in palette if c not in colors), color)
        colors.append(color)
    return colors
