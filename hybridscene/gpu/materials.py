"""Materials on the GPU: the mesh program variant each material needs (only the textures and the
shading it uses compiled in), its uniforms and textures (uploaded once, with their samplers), and
the environment light of the frame."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import transforms
from ..colors import linear_rgb
from ..scene import Material, Mesh, Scene
from ..scene.mesh import Texture
from .programs import has_uniform, load_program
from .programs import set_uniform as _set
from .textures import upload_image

if TYPE_CHECKING:
    import moderngl

    from .context import GLContext

__all__ = ["TEXTURE_SLOTS", "MaterialPrograms"]

_SHADING_CODE = {"lambert": 0, "blinn-phong": 1, "unlit": 2, "pbr": 3}
_TONEMAP_CODE = {"none": 0, "agx": 1, "aces": 2, "neutral": 3}
# Material texture fields -> (define, sampler uniform, texture unit). Units 0-1 are the shadow
# map and the plate's depth, 2 the base colour, 5-6 the environment (gpu/environment.py).
TEXTURE_SLOTS = {
    "texture": ("BASE_TEXTURE", "u_texture", 2),
    "metallic_roughness_texture": ("MR_TEXTURE", "u_mr_texture", 7),
    "normal_texture": ("NORMAL_TEXTURE", "u_normal_texture", 8),
    "occlusion_texture": ("OCCLUSION_TEXTURE", "u_occlusion_texture", 9),
    "emissive_texture": ("EMISSIVE_TEXTURE", "u_emissive_texture", 10),
}
_WRAP = {"repeat": (True, False), "clamp": (False, False), "mirror": (True, True)}


class MaterialPrograms:
    """Mesh program variants, material textures and the environment, for one context. Owned by
    a [`SceneRenderer`][hybridscene.gpu.renderer.SceneRenderer]; `release` frees the textures."""

    def __init__(self, gl: GLContext) -> None:
        self.gl = gl
        self._programs: dict[tuple[Any, ...], moderngl.Program] = {}
        self._textures: weakref.WeakKeyDictionary[Any, moderngl.Texture] = weakref.WeakKeyDictionary()
        self._env: Any = None  # the EnvironmentRenderer, made when a lit mesh is first drawn
        self._ambient_envs: dict[tuple[float, float, float], Any] = {}

    def program(self, mesh: Mesh, scene: Scene) -> moderngl.Program:
        """The mesh program variant for a mesh: only the textures, shading and vertex colours
        its material uses compiled in (a software rasteriser runs both sides of a branch on a
        uniform, so a variant leaves out what it does not use rather than skip it at run time)."""
        mat = mesh.material
        textures = tuple(getattr(mat, name) is not None for name in TEXTURE_SLOTS)
        key = (mat.shading, textures, mat.blend_mode, scene.tonemap,
               bool(mat.vertex_colors and mesh.geometry.has_colors))
        prog = self._programs.get(key)
        if prog is None:
            defines: dict[str, Any] = {"SHADING": _SHADING_CODE[mat.shading], "TONEMAP": _TONEMAP_CODE[scene.tonemap]}
            defines.update({slot[0]: 1 for slot, on in zip(TEXTURE_SLOTS.values(), textures) if on})
            if key[2] != "blend":
                defines["ALPHA_MASK" if key[2] == "mask" else "OPAQUE"] = 1
            if key[4]:
                defines["VERTEX_COLOR"] = 1
            prog = self._programs[key] = load_program(self.gl, "mesh", defines=defines)
        return prog

    def environment(self, scene: Scene) -> tuple[Any, float]:
        """``(Environment, intensity)`` lighting the scene's lit meshes this frame, with its
        textures made now (they draw into framebuffers of their own: not while a target is bound)."""
        env, intensity = self._pick(scene)
        self._env.textures(env)
        self._env.brdf_lut()
        return env, intensity

    def _pick(self, scene: Scene) -> tuple[Any, float]:
        if self._env is None:
            from .environment import EnvironmentRenderer

            self._env = EnvironmentRenderer(self.gl)
        source = scene.environment_source()
        if source == "plate":
            assert scene.plate is not None
            return self._env.for_plate(scene.plate), scene.environment_intensity
        if source == "ambient":
            rgb = scene.ambient.rgb["color"]
            env = self._ambient_envs.get(rgb)
            if env is None:
                from ..scene.environment import Environment

                env = self._ambient_envs[rgb] = Environment.uniform(rgb)
            return env, float(scene.ambient.intensity)
        return source, 1.0

    def bind_frame(self, prog: moderngl.Program, env: tuple[Any, float] | None, *, mirrored: bool = False) -> None:
        """Texture units of the material slots, and the frame's environment (``(Environment,
        intensity)`` from `environment`), for ``prog``. ``mirrored``: the meshes are drawn
        mirrored in the water (y flipped), so the environment is looked up mirrored too (the
        mirror image of a sphere's top is lit by the sky, not by the ground)."""
        for _, uniform, unit in TEXTURE_SLOTS.values():
            _set(prog, uniform, unit)
        if env is not None and has_uniform(prog, "u_env_sh"):
            self._env.bind(prog, env[0], intensity=env[1])
            if mirrored and has_uniform(prog, "u_env_rotation"):
                flip = np.asarray(env[0].rotation, np.float64) @ np.diag([1.0, -1.0, 1.0])
                prog["u_env_rotation"].write(transforms.gl_bytes(flip))

    def bind(self, prog: moderngl.Program, mat: Material) -> None:
        """``mat``'s uniforms and textures for ``prog`` (a variant from `program`, or the aux pass's)."""
        _set(prog, "u_base_color", linear_rgb(mat.color_rgb))
        _set(prog, "u_emissive", linear_rgb(mat.emissive_rgb))
        _set(prog, "u_emissive_strength", float(mat.emissive_strength))
        _set(prog, "u_opacity", float(mat.opacity))
        _set(prog, "u_metallic", float(mat.metallic))
        _set(prog, "u_roughness", float(mat.roughness))
        _set(prog, "u_specular", float(mat.specular))
        _set(prog, "u_shininess", float(mat.shininess))
        _set(prog, "u_normal_scale", float(mat.normal_scale))
        _set(prog, "u_occlusion_strength", float(mat.occlusion_strength))
        _set(prog, "u_alpha_cutoff", float(mat.alpha_cutoff))
        _set(prog, "u_alpha_mask", mat.blend_mode == "mask")
        _set(prog, "u_opaque", mat.blend_mode == "opaque")
        _set(prog, "u_use_texture", mat.texture is not None)
        # Per texture slot: bit 0 = second uv set, bit 1 = mirrored along s, bit 2 = along t.
        modes = [0, 0, 0, 0, 0]
        for i, (name, (_, _, unit)) in enumerate(TEXTURE_SLOTS.items()):
            tex = getattr(mat, name)
            if tex is not None:
                self.texture(tex, srgb=name in ("texture", "emissive_texture")).use(unit)
                modes[i] = tex.texcoord | (2 if tex.wrap[0] == "mirror" else 0) | (4 if tex.wrap[1] == "mirror" else 0)
        if has_uniform(prog, "u_tex_modes"):
            uniform = prog["u_tex_modes"]  # the compiler may keep only the slots this variant reads
            uniform.write(np.array(modes[:uniform.array_length], np.int32).tobytes())
    def texture(self, texture: Texture, *, srgb: bool = True) -> moderngl.Texture:
        """``texture`` on the GPU (sRGB-decoding for colours, linear for data), with its sampler."""
        key = texture if srgb else _LinearKey.of(texture)
        tex = self._textures.get(key)
        if tex is None:
            import moderngl

            tex = self._textures[key] = upload_image(self.gl, texture.image, srgb=srgb, mipmaps=texture.mipmaps)
            # Mirrored repeat is done in the shader (u_mirror) on a repeating texture.
            tex.repeat_x, tex.repeat_y = (_WRAP[w][0] for w in texture.wrap)
            mag = moderngl.NEAREST if texture.filter == "nearest" else moderngl.LINEAR
            if texture.mipmaps:
                tex.filter = (moderngl.NEAREST_MIPMAP_LINEAR if mag == moderngl.NEAREST else moderngl.LINEAR_MIPMAP_LINEAR, mag)
            else:
                tex.filter = (mag, mag)
        return tex

    def release(self) -> None:
        for tex in self._textures.values():
            tex.release()
        self._textures.clear()
        if self._env is not None:
            self._env.release()
            self._env = None
        self._ambient_envs.clear()


class _LinearKey:
    """A weak-referenceable key for the linear (data) upload of a texture, alive while it is."""

    _keys: weakref.WeakKeyDictionary[Texture, _LinearKey] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, texture: Texture) -> _LinearKey:
        key = cls._keys.get(texture)
        if key is None:
            key = cls._keys[texture] = cls()
        return key
