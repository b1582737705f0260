"""The PushT showcase per seed: does the planner reach the goal, how fast, and what does the recording cost.

    python benchmarks/bench_pusht.py [--seeds 0-5] [--output docs/pusht-showcase.md]

Each seed runs the showcase as ``worldforge-otel pusht`` does (default settings, configure() into an .rrd,
wall time from the first planning step to the closed recording) in its own process, one after another.
Prints JSON and, with ``--output``, writes its section of that file (between markers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from doc_sections import write_section

START: Final = "<!-- bench_pusht:start -->"
END: Final = "<!-- bench_pusht:end -->"
SUCCESS_GOAL: Final = 4  # seeds of the six that must reach the goal (issue 19)


def one_seed(seed: int, directory: Path) -> dict[str, Any]:
    """Run one seed in a fresh process (as the CLI would) and report it."""
    path = directory / f"seed{seed}.rrd"
    code = f"""
import json, time
from pathlib import Path
import worldforge_otel
from worldforge_otel.pusht.run import ShowcaseSettings, run_showcase
from worldforge_otel.rerun import RerunOptions
from worldforge_otel.pusht.blueprint import showcase_blueprint
started = time.perf_counter()
telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=Path({str(path)!r}), blueprint=showcase_blueprint),
                                      service_name="bench-pusht", set_global_providers=False)
run = run_showcase(ShowcaseSettings(seed={seed}), telemetry, tracer_provider=telemetry.tracer_provider,
                   meter_provider=telemetry.meter_provider, artifacts=telemetry.artifacts)
telemetry.shutdown()
print(json.dumps({{"succeeded": run.succeeded, "actions": run.actions, "planning_steps": len(run.steps),
                  "final_coverage": run.steps[-1].coverage if run.steps else run.initial_coverage,
                  "initial_coverage": run.initial_coverage, "final_pose_error": run.final_pose_error,
                  "seconds": time.perf_counter() - started}}))
"""
    env = {**os.environ, "RERUN_ANALYTICS": "false"}
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                            timeout=600).stdout  # fmt: skip
    result = json.loads(output.strip().splitlines()[-1])
    result["seed"] = seed
    result["recording_bytes"] = path.stat().st_size
    return result


def render(results: list[dict[str, Any]], command: str) -> str:
    succeeded = sum(r["succeeded"] for r in results)
    rows = "\n".join(
        f"| {r['seed']} | {r['initial_coverage']:.1%} → {r['final_coverage']:.1%} | "
        f"{str(r['actions']) + ' (' + str(r['planning_steps']) + ' steps)' if r['succeeded'] else 'not reached'} | "
        f"{r['seconds']:.1f} s | {r['recording_bytes'] / 1e6:.2f} MB |"
        for r in results
    )
    verdict = "met" if succeeded >= SUCCESS_GOAL and all(r["seconds"] < 120 for r in results) else "**not met**"
    return f"""{START}
Measured with `{command}` ({platform.python_version()}, 2 noisy cores): each seed in its own process with the
default settings (3 search rounds of 32 candidates per planning step, chunks of 8 actions, at most 300
actions), recorded into an `.rrd` as `worldforge-otel pusht` records it; wall time from the start to the
closed recording. This section is written by the script.

| seed | goal coverage, start → end | actions to success (0.1 s each) | wall time | recording |
|---|---|---|---|---|
{rows}

{succeeded} of {len(results)} seeds reach gym-pusht's success (coverage ≥ 95%) within 300 actions, each run
under 120 s (goal: at least 4 of 6: {verdict}).
{END}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-5", help="a range like 0-5, or a comma list")
    parser.add_argument("--output", type=Path, help="write the section of this markdown file")
    args = parser.parse_args()
    if "-" in args.seeds:
        first, last = (int(v) for v in args.seeds.split("-"))
        seeds = list(range(first, last + 1))
    else:
        seeds = [int(v) for v in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as directory:
        results = [one_seed(seed, Path(directory)) for seed in seeds]
    print(json.dumps(results, indent=2))
    if args.output is not None:
        command = f"python benchmarks/bench_pusht.py --seeds {args.seeds} --output {args.output}"
        write_section(args.output, render(results, command), start=START, end=END, first_time_at_top=False)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"took {time.perf_counter() - started:.0f} s", file=sys.stderr)
