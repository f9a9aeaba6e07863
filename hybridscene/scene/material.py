"""Materials and their textures: glTF 2.0's metallic-roughness model, plus the simple shadings
(Lambert, Blinn-Phong, unlit). Plain data; the renderer uploads textures on first use.

Colour spaces follow glTF: base-colour and emissive textures are sRGB-encoded; metallic-roughness,
normal and occlusion textures hold linear data.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..colors import Color, ColorFields
from ..errors import SceneError

__all__ = ["ALPHA_MODES", "SHADING", "Material", "Texture"]

SHADING = ("pbr", "lambert", "blinn-phong", "unlit")
"""Shading models: ``"pbr"`` (glTF metallic-roughness, lit by the sun and the environment),
``"lambert"`` (diffuse), ``"blinn-phong"`` (diffuse and a highlight) and ``"unlit"``."""

ALPHA_MODES = ("auto", "opaque", "mask", "blend")
"""How alpha is used: ``"opaque"`` ignores it, ``"mask"`` cuts out below ``alpha_cutoff`` (no
blending, no sorting), ``"blend"`` blends back to front; ``"auto"`` blends when the material
has any transparency (opacity below 1 or a texture with alpha) and is opaque otherwise. The
alpha is opacity x the texture's alpha x the vertex colours' alpha; a mesh whose only
transparency is in its vertex colours needs ``"blend"`` (or ``"mask"``)."""

WRAPS = ("repeat", "clamp", "mirror")
FILTERS = ("linear", "nearest")


class Texture:
    """An image for a material: ``(H, W, 3|4) uint8``, top row first, alpha straight.

    Build one from a file path, a PIL image or an array; the GPU copy is made on first use.

    Args:
        image: the image.
        wrap: ``"repeat"``, ``"clamp"`` or ``"mirror"``, or a pair ``(s, t)`` for the two axes.
        filter: magnification ``"linear"`` or ``"nearest"`` (pixel art).
        mipmaps: trilinear minification (``False``: plain ``filter`` when shrunk too).
        texcoord: which texture coordinates it reads: 0 (``Geometry.uvs``) or 1 (``Geometry.uvs1``).
    """

    def __init__(self, image: Any, *, wrap: str | tuple[str, str] = "repeat", filter: str = "linear",
                 mipmaps: bool = True, texcoord: int = 0) -> None:
        source = None
        if isinstance(image, (str, os.PathLike)):
            source = str(image)
            image = _open_texture(Path(image))
        if not isinstance(image, np.ndarray):
            try:
                mode = "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
                image = np.asarray(image.convert(mode))
            except AttributeError:
                raise SceneError(f"a texture must be an image file, a PIL image or an array, got {type(image).__name__}") from None
        arr = np.ascontiguousarray(image)
        if arr.ndim == 2 and arr.dtype == np.uint8 and 0 not in arr.shape:
            arr = np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))  # grey
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4) or 0 in arr.shape:
            raise SceneError(f"texture array must be (H, W, 3|4) uint8, got {arr.shape} {arr.dtype}")
        arr.setflags(write=False)
        self.image = arr
        self.source = source
        self.has_alpha = arr.shape[2] == 4 and bool((arr[..., 3] < 255).any())
        """True when some pixel is not fully opaque (decided once, not per frame)."""
        pair = (wrap, wrap) if isinstance(wrap, str) else tuple(wrap)
        if len(pair) != 2 or any(w not in WRAPS for w in pair):
            raise SceneError(f"texture wrap must be one of {', '.join(WRAPS)} or a pair of them, got {wrap!r}")
        if filter not in FILTERS:
            raise SceneError(f"texture filter must be 'linear' or 'nearest', got {filter!r}")
        if texcoord not in (0, 1):
            raise SceneError(f"texture texcoord must be 0 (uvs) or 1 (uvs1), got {texcoord!r}")
        self.wrap: tuple[str, str] = (str(pair[0]), str(pair[1]))
        self.filter = filter
        self.mipmaps = bool(mipmaps)
        self.texcoord = int(texcoord)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])

    def __repr__(self) -> str:
        return f"Texture({self.size[0]}x{self.size[1]}{', ' + repr(self.source) if self.source else ''})"


def _open_texture(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise SceneError(f"texture file {str(path)!r} does not exist; check the path")
    try:
        with Image.open(path) as img:
            img.load()
            mode = "RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB"
            return np.asarray(img.convert(mode))
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise SceneError(f"texture file {str(path)!r} is not an image ({exc}); use PNG, JPEG or WebP") from None


_TEXTURES = ("texture", "metallic_roughness_texture", "normal_texture", "occlusion_texture", "emissive_texture")
_UNIT = {"opacity": "0..1", "metallic": "0..1", "roughness": "0..1", "specular": "0..1", "alpha_cutoff": "0..1",
         "occlusion_strength": "0..1"}


@dataclasses.dataclass(eq=False)
class Material(ColorFields):
    """How a surface looks: glTF 2.0's metallic-roughness material by default.

    Colours are sRGB-encoded (see `hybridscene.colors`); lighting happens in linear light.
    The base colour is ``color * texture * vertex colour``; alpha is
    ``opacity * texture alpha * vertex alpha``, used as ``alpha_mode`` says and composited
    premultiplied. Blended meshes are drawn after opaque ones, sorted back to front.

    With ``shading="pbr"`` the surface is lit by the sun and by the scene's environment (the
    plate around the scene, see [`Scene`][hybridscene.Scene]): ``metallic`` and ``roughness``
    (times the blue and green channels of ``metallic_roughness_texture``) choose between a
    diffuse dielectric and a mirror-like metal. The simple shadings ignore them.
    """

    color: Color = (0.8, 0.8, 0.8)
    """Base (albedo) colour."""
    opacity: float = 1.0
    """0 = invisible, 1 = opaque."""
    emissive: Color = (0.0, 0.0, 0.0)
    """Light the surface gives off regardless of lights (times ``emissive_texture``)."""
    shading: str = "pbr"
    """One of `SHADING`: ``"pbr"``, ``"lambert"``, ``"blinn-phong"`` or ``"unlit"``."""
    metallic: float = 0.0
    """0 = dielectric (plastic, wood, paint), 1 = metal (pbr)."""
    roughness: float = 0.5
    """0 = mirror-smooth, 1 = fully rough (pbr; perceptual roughness, squared for GGX)."""
    specular: float = 0.5
    """Strength of the Blinn-Phong highlight (0..1)."""
    shininess: float = 32.0
    """Blinn-Phong exponent: higher is a smaller, sharper highlight."""
    texture: Texture | Any = None
    """Base-colour texture (sRGB, alpha straight): a [`Texture`][hybridscene.Texture], or an image
    path / PIL image / array (converted on set, as are the other textures)."""
    metallic_roughness_texture: Texture | Any = None
    """Linear data: green = roughness, blue = metallic (glTF), multiplying the factors."""
    normal_texture: Texture | Any = None
    """Tangent-space normal map (linear, OpenGL/glTF convention: +Y up); tangents come from the
    geometry's UVs when it has none."""
    normal_scale: float = 1.0
    """Scales the normal map's X and Y."""
    occlusion_texture: Texture | Any = None
    """Linear data: red = ambient occlusion of the environment light."""
    occlusion_strength: float = 1.0
    """0 = ignore ``occlusion_texture``, 1 = full effect."""
    emissive_texture: Texture | Any = None
    """sRGB emissive colour, multiplying ``emissive``."""
    emissive_strength: float = 1.0
    """Multiplies the emissive colour (linear; glTF's ``KHR_materials_emissive_strength``)."""
    alpha_mode: str = "auto"
    """One of `ALPHA_MODES`."""
    alpha_cutoff: float = 0.5
    """``alpha_mode="mask"``: alpha below it is cut away, at or above it is opaque."""
    double_sided: bool | None = None
    """Draw back faces too (lit from their own side). ``None``: only blended materials, so the
    back of a glass object shows through its front; opaque and masked ones cull back faces."""
    vertex_colors: bool = True
    """Multiply by the geometry's vertex colours when it has them."""

    _color_fields = ("color", "emissive")
    _color_label = "material"

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _UNIT:
            v = float(value)
            if not 0.0 <= v <= 1.0:
                raise SceneError(f"material {name} must be in 0..1, got {value!r}")
            value = v
        elif name == "shading" and value not in SHADING:
            raise SceneError(f"unknown shading {value!r}; choose one of {', '.join(SHADING)}")
        elif name == "alpha_mode" and value not in ALPHA_MODES:
            raise SceneError(f"unknown alpha_mode {value!r}; choose one of {', '.join(ALPHA_MODES)}")
        elif name == "shininess":
            v = float(value)
            if not 1.0 <= v <= 4096.0:
                raise SceneError(f"material shininess must be in 1..4096, got {value!r}")
            value = v
        elif name in ("normal_scale", "emissive_strength"):
            v = float(value)
            if not np.isfinite(v) or (name == "emissive_strength" and v < 0):
                raise SceneError(f"material {name} must be a finite number{' >= 0' if name == 'emissive_strength' else ''}, "
                                 f"got {value!r}")
            value = v
        elif name in _TEXTURES and value is not None and not isinstance(value, Texture):
            value = Texture(value)
        elif name == "double_sided" and value is not None:
            value = bool(value)
        super().__setattr__(name, value)

    @property
    def color_rgb(self) -> tuple[float, float, float]:
        """Base colour as sRGB floats in 0..1."""
        return self.rgb["color"]

    @property
    def emissive_rgb(self) -> tuple[float, float, float]:
        """Emissive colour as sRGB floats in 0..1."""
        return self.rgb["emissive"]

    @property
    def blend_mode(self) -> str:
        """The alpha mode in effect: ``"opaque"``, ``"mask"`` or ``"blend"`` (``"auto"`` resolved)."""
        if self.alpha_mode != "auto":
            return self.alpha_mode
        return "blend" if self.opacity < 1.0 or (self.texture is not None and self.texture.has_alpha) else "opaque"

    @property
    def transparent(self) -> bool:
        """Drawn in the sorted, back-to-front pass (``alpha_mode`` blend)."""
        return self.blend_mode == "blend"

    @property
    def two_sided(self) -> bool:
        """Back faces are drawn (``double_sided``, or a blended material by default)."""
        return self.transparent if self.double_sided is None else self.double_sided

    def textures(self) -> dict[str, Texture]:
        """The textures this material uses, by field name."""
        return {name: getattr(self, name) for name in _TEXTURES if getattr(self, name) is not None}
