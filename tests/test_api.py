"""The public surface: curated exports, cheap import."""

import subprocess
import sys
import types

import hybridscene as hs


def test_all_is_sorted_and_complete():
    assert hs.__all__ == sorted(hs.__all__)
    for name in hs.__all__:
        assert hasattr(hs, name), name
    public = {n for n in dir(hs) if not n.startswith("_") and not isinstance(getattr(hs, n), types.ModuleType)}
    assert public - set(hs.__all__) == set(), "exported names missing from __all__"


def test_errors_share_one_root():
    for name in ("ConfigError", "PlateError", "SceneError", "GPUError", "ShaderError", "SinkError",
                 "UnsupportedOutputError", "Cancelled"):
        assert issubclass(getattr(hs, name), hs.HybridSceneError)
    assert issubclass(hs.UnsupportedOutputError, ValueError)


HEAVY = ("torch", "diffusers", "transformers", "moderngl_window", "pyglet", "PySide6", "av", "tqdm")


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_import_is_cheap():
    assert _loaded_after("import hybridscene") == []


def test_cli_help_is_cheap():
    code = (
        "from click.testing import CliRunner\nfrom hybridscene.cli import main\n"
        "r = CliRunner().invoke(main, ['--help'])\nassert r.exit_code == 0, r.output\n"
        "assert 'demo' in r.output and 'info' in r.output"
    )
    assert _loaded_after(code) == []
