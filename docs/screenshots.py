"""Screenshots of the real Rerun viewer opening fresh recordings: the images in README.md and docs/.

Usage (what ``tox -e screenshots`` runs, through tests/viewer/)::

    python docs/screenshots.py --out docs/images            # every shot
    python docs/screenshots.py --out /tmp/shots pusht demo   # some of them

Each shot records a run with the ``worldforge-otel`` command (or an example), opens the ``.rrd`` in the
native viewer under Xvfb with Mesa's Vulkan rasterizer, waits for the viewer's start-up notices to fade,
saves the window through the viewer's own screenshot API, and asks the viewer to quit. What is on screen
is the recording's default blueprint: nothing is clicked. PNGs are palette-quantized to stay small.

Needs rerun-sdk >= 0.41 (``rerun.experimental.ViewerClient``), Pillow, and the Debian packages
``xvfb xauth mesa-vulkan-drivers libvulkan1``; the real-worldforge shot needs worldforge-ai (Python >= 3.13)
and the dual-export shot the ``rotel`` collector (``pip install rotel``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from otlp_backend import Rotel, free_port, rotel_binary, wait_for_port  # noqa: E402  # the tests' real OTLP parts

WINDOW = (1280, 720)
MAX_PNG_BYTES = 300_000
SETTLE_SECS = 8.0  # the viewer's notices (software rasterizer, container) fade after a few seconds
DEBIAN_PACKAGES = "xvfb xauth mesa-vulkan-drivers libvulkan1"


class Unavailable(RuntimeError):
    """A shot cannot be taken on this machine (a package is missing); the message names it."""


@dataclass(frozen=True)
class ViewerRun:
    """One viewer opening: where the PNG went, the viewer's exit code, and how long it took."""

    png: Path
    exit_code: int
    seconds: float


DEFAULT_SCENE = (0.02, 0.10, 0.57, 0.45)  # where default_blueprint() puts the 3D view (left, top, right, bottom)
SHOWCASE_SCENE = (0.02, 0.10, 0.57, 0.72)  # where showcase_blueprint() puts the tabletop


@dataclass(frozen=True)
class Shot:
    """A recording to make and the picture of it."""

    name: str
    record: Callable[[Path, Path], None]  # (recording, scratch directory)
    scene: tuple[float, float, float, float] = DEFAULT_SCENE  # the 3D view's region, as fractions of the window


def _command(*args: str, log: Path) -> None:
    with log.open("ab") as output:
        subprocess.run([sys.executable, *args], check=True, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)


def record_demo(path: Path, scratch: Path) -> None:
    """``worldforge-otel demo`` with the built-in mock flow."""
    _command("-m", "worldforge_otel", "demo", "--built-in", "--rerun-output", str(path), log=scratch / "demo.log")


def record_worldforge(path: Path, scratch: Path) -> None:
    """``worldforge-otel demo`` on worldforge-ai itself (its mock provider)."""
    if sys.version_info < (3, 13) or importlib.util.find_spec("worldforge") is None:
        raise Unavailable("the real-worldforge flow needs worldforge-ai (Python >= 3.13; the worldforge extra)")
    _command("-m", "worldforge_otel", "demo", "--rerun-output", str(path), log=scratch / "worldforge.log")


def record_pusht(path: Path, scratch: Path) -> None:
    """``worldforge-otel pusht`` with its default settings (40 steps)."""
    _command("-m", "worldforge_otel", "pusht", "--rerun-output", str(path), log=scratch / "pusht.log")


def record_dual_export(path: Path, scratch: Path) -> None:
    """``examples/dual_export_jaeger.py``, its OTLP going to a real rotel collector."""
    with rotel_collector(scratch) as endpoint:
        _command(str(ROOT / "examples" / "dual_export_jaeger.py"), "--rerun-output", str(path), "--otlp-endpoint",
                 endpoint, log=scratch / "dual-export.log")  # fmt: skip


SHOTS = (
    Shot("demo", record_demo),  # world, plan, retries and a failure, benchmark bars
    Shot("worldforge", record_worldforge),  # the real worldforge-ai flow: objects, boxes, plan targets, bars
    Shot("pusht", record_pusht, SHOWCASE_SCENE),  # the last step on the tabletop, scores and pose error
    Shot("dual-export", record_dual_export),  # a trace also sent through a real OTLP collector: waterfall, tree
)


@contextlib.contextmanager
def rotel_collector(scratch: Path) -> Iterator[str]:
    """A real rotel collector receiving OTLP/gRPC (and discarding it); yields its endpoint."""
    binary = rotel_binary()
    if binary is None:
        raise Unavailable("the dual-export shot needs the rotel collector (pip install rotel)")
    rotel = Rotel(binary, None, scratch / "rotel.log")
    try:
        yield rotel.grpc_endpoint
    finally:
        rotel.stop()


def viewer_problem() -> str | None:
    """Why the viewer cannot be screenshotted here (naming what to install), or None."""
    if shutil.which("xvfb-run") is None or shutil.which("xauth") is None:
        return f"Xvfb is not installed (apt-get install -y {DEBIAN_PACKAGES})"
    if not any(Path(d).glob("lvp_icd*.json") for d in ("/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d")):
        return f"Mesa's Vulkan rasterizer (lavapipe) is not installed (apt-get install -y {DEBIAN_PACKAGES})"
    if _rerun_cli() is None:
        return "the rerun command is not installed next to this Python (pip install 'rerun-sdk>=0.41')"
    try:
        from rerun.experimental import ViewerClient  # noqa: F401
    except ImportError:
        return "rerun-sdk >= 0.41 is needed for its viewer client (pip install 'rerun-sdk>=0.41')"
    try:
        import PIL  # noqa: F401
    except ImportError:
        return "Pillow is not installed (pip install pillow)"
    return None


def _rerun_cli() -> str | None:
    beside = Path(sys.executable).parent / "rerun"
    return str(beside) if beside.exists() else shutil.which("rerun")


def screenshot(
    recording: Path, png: Path, *, log: Path, window: tuple[int, int] = WINDOW, settle: float = SETTLE_SECS
) -> ViewerRun:
    """Open ``recording`` in the real viewer under Xvfb, save a screenshot to ``png``, quit; never leaves a viewer."""
    from rerun.experimental import ViewerClient

    started = time.monotonic()
    width, height = window
    port = free_port()
    env = dict(os.environ, WGPU_BACKEND="vulkan", XDG_RUNTIME_DIR=tempfile.gettempdir(), RERUN_ANALYTICS="false")
    with log.open("wb") as output:
        viewer = subprocess.Popen(
            ["xvfb-run", "-a", "-s", f"-screen 0 {width + 64}x{height + 64}x24", str(_rerun_cli()), str(recording),
             "--renderer", "vulkan", "--window-size", f"{width}x{height}", "--port", str(port)],
            env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for_port(port, timeout=60.0, process=viewer)
        client = ViewerClient(f"rerun+http://127.0.0.1:{port}/proxy")
        time.sleep(settle)
        raw = log.with_suffix(".raw.png")
        client.save_screenshot(str(raw))
        client.run_command("ui.quit")
        exit_code = viewer.wait(timeout=30)
        shrink(raw, png, window)
    finally:
        if viewer.poll() is None:
            os.killpg(viewer.pid, signal.SIGKILL)
            viewer.wait()
    return ViewerRun(png=png, exit_code=exit_code, seconds=time.monotonic() - started)


def shrink(source: Path, target: Path, window: tuple[int, int]) -> None:
    """Scale to the window size and quantize to a 256-colour palette (UI screenshots lose nothing visible)."""
    from PIL import Image

    with Image.open(source) as image:
        picture = image.convert("RGB")
        if picture.size != window:
            picture = picture.resize(window, Image.Resampling.LANCZOS)
        palette = picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        palette.save(target, optimize=True)


def take(shot: Shot, out: Path, scratch: Path) -> ViewerRun:
    """Record ``shot`` afresh into ``scratch`` and screenshot it into ``out/<name>.png``."""
    recording = scratch / f"{shot.name}.rrd"
    recording.unlink(missing_ok=True)
    shot.record(recording, scratch)
    return screenshot(recording, out / f"{shot.name}.png", log=scratch / f"{shot.name}.viewer.log")


def main(argv: list[str] | None = None) -> int:
    """Take the shots named in ``argv`` (all by default); 2 when the viewer cannot run here."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="where the PNGs go")
    parser.add_argument("names", nargs="*", help=f"shots to take: {', '.join(s.name for s in SHOTS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - {s.name for s in SHOTS})
    if unknown:
        parser.error(f"unknown shot(s) {', '.join(unknown)}; choose from {', '.join(s.name for s in SHOTS)}")
    problem = viewer_problem()
    if problem is not None:
        print(f"screenshots: cannot open the viewer here: {problem}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="worldforge-otel-shots-") as scratch:
        for shot in SHOTS:
            if args.names and shot.name not in args.names:
                continue
            try:
                run = take(shot, args.out, Path(scratch))
            except Unavailable as reason:
                print(f"- {shot.name}: skipped: {reason}")
                continue
            size = run.png.stat().st_size
            print(f"- {shot.name}: {run.png} ({size} bytes, viewer exit {run.exit_code}, {run.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
