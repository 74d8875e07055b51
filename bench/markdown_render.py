"""Pathological markdown: what one render costs in-process and through the bounded workers.

    .venv/bin/python bench/markdown_render.py

"in-process" is `render_markdown` called directly: what /preview did on the event loop before
it used workers. "workers" is `MarkdownRenderer` with the server's bounds, one fresh worker per
text: the wall time /preview waits, its answer, and the CPU the worker used (counted once it has
exited; its 0.1 s start-up included).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import figures
from bench.figures import Figure
from triage_hub import markdown_pool
from triage_hub.errors import MarkdownTooComplex, RendererBusy
from triage_hub.markdown import render_markdown
from triage_hub.markdown_pool import MarkdownRenderer

CASES = {
    '"![" * 10000': "![" * 10000,
    '"![a" * 6666': "![a" * 6666,
    '"[" * 20000': "[" * 20000,
    '"*a" * 10000': "*a" * 10000,
    '"> " * 10000': "> " * 10000,
    '"- * " * 5000 (nested lists)': "- * " * 5000,
    '"1. " * 6666 (nested lists)': "1. " * 6666,
    "140 lists, each indented 2 more": "".join(" " * (2 * i) + "- x\n" for i in range(140)),
    "README.md, first 20,000 chars": (Path(__file__).parent.parent / "README.md").read_text()[
        :20000
    ],
}


def children_cpu() -> float:
    """CPU seconds of this process's reaped children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def through_workers(text: str) -> tuple[float, str, float]:
    """Wall seconds, outcome and worker CPU of one render in a fresh worker."""
    renderer = MarkdownRenderer(
        workers=markdown_pool.WORKERS,
        render_seconds=markdown_pool.RENDER_SECONDS,
        wait_seconds=markdown_pool.WAIT_SECONDS,
    )
    await renderer.render("warm")  # start-up is not part of a render's bound
    cpu_before = children_cpu()
    started = time.perf_counter()
    try:
        await renderer.render(text)
        outcome = "200"
    except MarkdownTooComplex:
        outcome = "422 markdown_too_complex"
    except RendererBusy:
        outcome = "503 renderer_busy"
    wall = time.perf_counter() - started
    await renderer.close()
    return wall, outcome, children_cpu() - cpu_before


# What stopping a worker that overran its bound may add to the wait.
STOP_SECONDS = 0.25


async def main(args: argparse.Namespace) -> None:
    """Print the table."""
    slowest: tuple[float, float, str] = (0.0, 0.0, "")  # in-process s, workers' wall s, name
    print(f"bound: {markdown_pool.RENDER_SECONDS:g} s per render, {markdown_pool.WORKERS} worker")
    print()
    print("| input | chars | in-process (s) | workers: wall (s) | answer | worker CPU (s) |")
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    for name, text in list(CASES.items())[: args.cases]:
        started = time.perf_counter()
        render_markdown(text)
        inline = time.perf_counter() - started
        wall, outcome, cpu = await through_workers(text)
        print(f"| {name} | {len(text)} | {inline:.3f} | {wall:.3f} | {outcome} | {cpu:.2f} |")
        slowest = max(slowest, (inline, wall, name))
    inline, wall, name = slowest
    bound = markdown_pool.RENDER_SECONDS
    figures.write(
        args.figures,
        [
            Figure(
                f"/preview's wait for the slowest text in-process ({name})",
                wall,
                "s",
                target=bound + STOP_SECONDS,
                target_note=f"the {bound:g} s render bound + {STOP_SECONDS:g} s to stop a worker",
                anchor=inline,
                anchor_label="rendered in-process, on the event loop (same run)",
            )
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=len(CASES), help="only the first N inputs")
    figures.add_arguments(parser)
    asyncio.run(main(parser.parse_args()))
