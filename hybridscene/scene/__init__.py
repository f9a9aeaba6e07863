"""Scene description: plain data (no GL) that the GPU renderer draws."""

from .camera import OrthographicCamera, PerspectiveCamera
from .light import AmbientLight, DirectionalLight
from .mesh import Geometry, Material, Mesh, Texture
from .gltf_animation import Animation, AnimationPlayer
from .meshfile import Model, load_mesh
from .node import Node
from .particles import ParticleEmitter, Sprite, SpriteSet
from .randomize import Randomizer
from .scene import TONEMAPS, FrameCallback, Scene
from .shadow import ReflectionCatcher, ShadowCatcher

__all__ = [
    "AmbientLight",
    "Animation",
    "AnimationPlayer",
    "DirectionalLight",
    "FrameCallback",
    "Geometry",
    "Material",
    "Mesh",
    "Model",
    "Node",
    "OrthographicCamera",
    "ParticleEmitter",
    "PerspectiveCamera",
    "Randomizer",
    "ReflectionCatcher",
    "Scene",
    "ShadowCatcher",
    "Sprite",
    "SpriteSet",
    "TONEMAPS",
    "Texture",
    "load_mesh",
]
