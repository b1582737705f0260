"""Every recording opens in the real Rerun viewer and shows something: the screenshots in README.md and docs/.

Each test records a fresh run, opens it in the native viewer (Xvfb + Mesa's Vulkan rasterizer), takes the
screenshot through the viewer's own API and checks it: the viewer exited 0, the PNG is small enough for the
docs, and the 3D view's region holds coloured pixels (the viewer's own chrome and grid are grey; objects,
plan targets, the goal and block are not). A control recording with no data must fail that same check.

``WORLDFORGE_OTEL_SCREENSHOTS_DIR`` (``tox -e screenshots`` sets docs/images) keeps the PNGs; otherwise
they go to a temporary directory.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("screenshots", ROOT / "docs" / "screenshots.py")
assert _spec is not None and _spec.loader is not None
screenshots = importlib.util.module_from_spec(_spec)
sys.modules["screenshots"] = screenshots
_spec.loader.exec_module(screenshots)

PROBLEM = screenshots.viewer_problem()
# Run by `tox -e screenshots` only (`-m viewer`); deselected everywhere else by pyproject's addopts.
pytestmark = [pytest.mark.viewer, pytest.mark.skipif(PROBLEM is not None, reason=f"no real viewer here: {PROBLEM}")]
MIN_COLOURED_SHARE = 0.003  # of the 3D region's pixels


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("WORLDFORGE_OTEL_SCREENSHOTS_DIR")
    directory = Path(chosen) if chosen else tmp_path_factory.mktemp("shots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def coloured_share(png: Path, region: tuple[float, float, float, float]) -> float:
    """Share of the pixels in ``region`` (fractions left, top, right, bottom) that are clearly not grey."""
    import numpy as np
    from PIL import Image

    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    height, width, _ = pixels.shape
    left, top, right, bottom = region
    crop = pixels[int(top * height) : int(bottom * height), int(left * width) : int(right * width)]
    spread = crop.max(axis=2) - crop.min(axis=2)
    return float((spread >= 60).mean())


@pytest.mark.parametrize("shot", screenshots.SHOTS, ids=lambda shot: shot.name)
def test_each_recording_opens_in_the_viewer_and_shows_its_scene(shot, out: Path, tmp_path: Path) -> None:
    try:
        run = screenshots.take(shot, out, tmp_path)
    except screenshots.Unavailable as reason:
        pytest.skip(str(reason))
    assert run.exit_code == 0, (tmp_path / f"{shot.name}.viewer.log").read_text(errors="replace")[-2000:]
    size = run.png.stat().st_size
    assert 10_000 < size <= screenshots.MAX_PNG_BYTES
    from PIL import Image

    with Image.open(run.png) as image:
        assert image.size == screenshots.WINDOW
    share = coloured_share(run.png, shot.scene)
    assert share >= MIN_COLOURED_SHARE, f"the 3D view of {shot.name} looks empty ({share:.4%} coloured)"


def test_the_check_fails_on_a_recording_without_data(tmp_path: Path) -> None:
    """The control: the same layout with nothing logged has no coloured pixels where the 3D view is."""
    import worldforge_otel
    from worldforge_otel.rerun.options import RerunOptions

    recording = tmp_path / "empty.rrd"
    worldforge_otel.configure(rerun=RerunOptions(save_path=recording), set_global_providers=False).shutdown()
    run = screenshots.screenshot(recording, tmp_path / "empty.png", log=tmp_path / "empty.viewer.log")
    assert run.exit_code == 0
    assert coloured_share(run.png, screenshots.DEFAULT_SCENE) < MIN_COLOURED_SHARE / 10
