"""hybridscene: an AI-painted (or procedural) background plate made once and cached, a ModernGL
foreground rendered every frame, composited on the GPU in linear light.

Quick start::

    import hybridscene as hs

    plate = hs.procedural_plate("mountains", size=(1280, 720), seed=3)
    scene = hs.Scene(plate)
    cube = scene.add(hs.Mesh.cube(1.0, color="#e04020"), position=(0, 1.2, -8))

    @scene.on_frame
    def spin(t):
        cube.rotation = hs.quat_from_euler(y=90 * t)

    hs.render(scene, "spin.mp4", seconds=3)

Importing this package loads neither torch/diffusers nor a window toolkit; they are imported by
the functions that need them.
"""

from ._startup import install_interrupt_hook as _install_interrupt_hook

_install_interrupt_hook()  # first: Ctrl-C while the command imports is one line, not a traceback

from ._version import __version__
from .clock import Clock, FixedStepClock, RealtimeClock, frame_time
from .config import Acceleration, Settings, get_settings
from .errors import (
    Cancelled,
    ConfigError,
    GPUError,
    HybridSceneError,
    HybridSceneWarning,
    MeshFileWarning,
    PlateError,
    SceneError,
    ShaderError,
    SinkError,
    SoftwareRendererWarning,
    UnsupportedOutputError,
)
from .colors import tonemap
from .gpu.context import GLContext, create_context
from .gpu.environment import EnvironmentRenderer
from .plate import (
    Layout,
    Plate,
    PlateCache,
    PlateCamera,
    PlateFuture,
    PlateResult,
    PlateSpec,
    PlateWorker,
    background_plate,
    generate_plate,
    generate_plate_async,
    load_plate,
    procedural_plate,
    upscale_plate,
)
from .plate.projection import plate_directions, plate_uv
from .animation import Track
from .compose import CameraInfo, FrameLayers, FramePasses, FrameRenderer, InstanceInfo, check_passes
from .export import (
    AssembleResult,
    DatasetProgress,
    DatasetResult,
    Progress,
    RenderResult,
    assemble,
    frames,
    make_dataset,
    render,
)
from .cluster import RayExecutor
from .scenefile import SceneFile, SceneSource, load_scene_file
from .scene import (
    AmbientLight,
    Animation,
    AnimationPlayer,
    DirectionalLight,
    Geometry,
    Material,
    Mesh,
    Model,
    Node,
    OrthographicCamera,
    ParticleEmitter,
    PerspectiveCamera,
    Randomizer,
    ReflectionCatcher,
    Scene,
    TONEMAPS,
    ShadowCatcher,
    Sprite,
    SpriteSet,
    Texture,
    load_mesh,
)
from .scene.environment import Environment
from .live import PreviewStats, Server, preview, serve
from .notebook import Video, show
from .transforms import quat_from_axis_angle, quat_from_euler

__all__ = [
    "Acceleration",
    "AmbientLight",
    "Animation",
    "AnimationPlayer",
    "AssembleResult",
    "CameraInfo",
    "Cancelled",
    "Clock",
    "ConfigError",
    "DatasetProgress",
    "DatasetResult",
    "DirectionalLight",
    "Environment",
    "EnvironmentRenderer",
    "FixedStepClock",
    "FrameLayers",
    "FramePasses",
    "FrameRenderer",
    "GLContext",
    "GPUError",
    "Geometry",
    "HybridSceneError",
    "HybridSceneWarning",
    "InstanceInfo",
    "Layout",
    "Material",
    "Mesh",
    "MeshFileWarning",
    "Model",
    "Node",
    "OrthographicCamera",
    "ParticleEmitter",
    "PerspectiveCamera",
    "Plate",
    "PlateCache",
    "PlateCamera",
    "PlateError",
    "PlateFuture",
    "PlateResult",
    "PlateSpec",
    "PlateWorker",
    "PreviewStats",
    "Progress",
    "Randomizer",
    "RayExecutor",
    "RealtimeClock",
    "ReflectionCatcher",
    "RenderResult",
    "Scene",
    "SceneError",
    "SceneFile",
    "SceneSource",
    "Server",
    "Settings",
    "ShaderError",
    "ShadowCatcher",
    "SinkError",
    "SoftwareRendererWarning",
    "Sprite",
    "SpriteSet",
    "TONEMAPS",
    "Texture",
    "Track",
    "UnsupportedOutputError",
    "Video",
    "__version__",
    "assemble",
    "background_plate",
    "check_passes",
    "create_context",
    "frame_time",
    "frames",
    "generate_plate",
    "generate_plate_async",
    "get_settings",
    "load_mesh",
    "load_plate",
    "load_scene_file",
    "make_dataset",
    "plate_directions",
    "plate_uv",
    "preview",
    "procedural_plate",
    "quat_from_axis_angle",
    "quat_from_euler",
    "render",
    "serve",
    "show",
    "tonemap",
    "upscale_plate",
]
