"""Scene description: plain data (no GL) that the GPU renderer draws."""

from .camera import OrthographicCamera, PerspectiveCamera
from .light import AmbientLight, DirectionalLight
from .mesh import Geometry, Material, Mesh, Texture
from .meshfile import load_mesh
from .node import Node
from .particles import ParticleEmitter, Sprite, SpriteSet
from .randomize import Randomizer
from .scene import TONEMAPS, FrameCallback, Scene
from .shadow import ReflectionCatcher, ShadowCatcher

__all__ = [
    "TONEMAPS",
    "AmbientLight",
    "DirectionalLight",
    "FrameCallback",
    "Geometry",
    "Material",
    "Mesh",
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
    "Texture",
    "load_mesh",
]
