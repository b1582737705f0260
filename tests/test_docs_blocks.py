"""Every Python block of README.md and docs/*.md runs as written (in a fresh directory, pointed at a real OTLP
collector started here where a block names one), so the docs cannot drift from the package."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from conftest import recorded_entity_paths

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [(document, index, code) for document in DOCUMENTS
          for index, code in enumerate(BLOCK.findall(document.read_text(encoding="utf-8")))]  # fmt: skip
pytest.importorskip("worldforge", reason="the blocks use worldforge-ai, which needs Python >= 3.13")


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x00\xff\x00\x00\x00\xff\x00\x00"
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))  # fmt: skip


def test_the_docs_have_python_blocks():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize(("document", "index", "code"), BLOCKS,
                         ids=[f"{d.relative_to(ROOT)}#{i}" for d, i, _ in BLOCKS])  # fmt: skip
def test_each_block_runs_as_written_and_records(document, index, code, tmp_path, collector):
    (tmp_path / "camera.png").write_bytes(png())
    code = code.replace("http://127.0.0.1:4317", collector.grpc_endpoint)  # the collector this test started
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "RERUN_ANALYTICS": "false"}
    env.pop("OTEL_EXPORTER_RERUN_SAVE_PATH", None)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, env=env, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    recordings = [*tmp_path.glob("*.rrd"), *(tmp_path / ".worldforge" / "rerun").glob("*.rrd")]
    assert len(recordings) == 1, recordings
    verify = subprocess.run([sys.executable, "-m", "rerun", "rrd", "verify", str(recordings[0])],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert verify.returncode == 0, verify.stderr[-2000:]  # a whole recording, footer included
    if "create_world(" in code:  # a block that makes provider calls records them
        assert any(path.startswith("/worldforge/") for path in recorded_entity_paths(recordings[0]))
