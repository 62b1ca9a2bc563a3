"""Main-thread CPU seconds of a change in the napari widget and of the core call.

The scene of ``bench_viewer.py`` (the sample, the slice with the most boxes, jobs in place), but
timed in CPU seconds of the main thread (``time.thread_time``) as well as wall time: on a loaded
machine wall times are mostly waiting, CPU seconds still compare two versions of the viewer.
Run with ``OMP_NUM_THREADS=1`` so torch computes on the main thread too; Qt's GL rendering runs
in llvmpipe's threads and is not counted. Two kinds of change, as in ``bench_viewer.py``: a new
mask seed (``seed``) and a drawn-mask edit (``drawn``: one more phase-encode line toggled on in
the mask editor and committed at once). Usage (under Xvfb)::

    OMP_NUM_THREADS=1 xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python benchmarks/bench_viewer_cpu.py \
        [--changes 7] [--methods zero-filled+lfmri zero-filled] [--kinds seed drawn] [--profile FILE]

``--profile FILE`` also writes a cProfile of the viewer's part of every timed change (the core
call is outside it), in main-thread CPU seconds, to ``FILE`` (read it with ``python -m pstats FILE``).
"""
from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import sys
import time

os.environ["LFMRI_VIEWER_SYNC"] = "1"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=7, help="timed changes per row (after one warm-up)")
    parser.add_argument("--methods", nargs="+", default=["zero-filled+lfmri", "zero-filled"])
    parser.add_argument("--kinds", nargs="+", default=["seed", "drawn"], choices=["seed", "drawn"])
    parser.add_argument("--profile", default=None, help="write a cProfile of the viewer's part here")
    args = parser.parse_args()

    import napari
    import torch
    from lfmri_sample_data import ensure_sample_data
    from qtpy.QtWidgets import QApplication

    from lfmri_core.inference import infer_slices
    from lfmri_viewer.napari_plugin._widget import ReconstructionWidget

    def process_events() -> None:
        for _ in range(3):
            QApplication.processEvents()

    path = next(p for p in ensure_sample_data() if p.suffix == ".h5")
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1800, 1100)
    widget = ReconstructionWidget(viewer)
    viewer.window.add_dock_widget(widget, area="right")
    s = widget.controller
    widget.open_file(path)
    s.set_slice(max(range(s.num_slices), key=lambda i: len(s.boxes(i))))
    kspace = s._require().kspace(s.slice_index)
    profile = cProfile.Profile(time.thread_time) if args.profile else None
    load = os.getloadavg()
    print(f"torch threads {torch.get_num_threads()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"median of {args.changes} changes after one warm-up")

    def change_seed(repeat: int, seed: int) -> None:
        widget.seed.setValue(seed)

    def check_seed(repeat: int, seed: int) -> None:
        assert all(s.result(m).mask_key[-1] == seed for m in s.settings.methods), "the seed did not reach the results"

    free: list[int] = []

    def draw_line(repeat: int, seed: int) -> None:
        widget.mask_editor.toggle_line(free[repeat])
        widget.mask_editor.commit()

    def check_drawn(repeat: int, seed: int) -> None:
        spec = s.settings.drawn_mask
        assert spec is not None and spec.lines.count(free[repeat]) == 1, "the edit did not reach the controller"
        assert all(s.result(m).mask_key == ("drawn", spec) for m in s.settings.methods), "no result for the drawn mask"

    seed = 2000
    for kind in args.kinds:
        for method in args.methods:
            methods = tuple(method.split("+"))
            s.update(methods=methods)
            if kind == "drawn":
                widget.mask_editor.set_editing(True)
                widget.mask_editor.reset()
                process_events()
                pattern = s.mask().pattern
                width = pattern.shape[-1]
                free[:] = sorted((c for c in range(width) if not pattern[c]), key=lambda c: abs(c - width // 2))
                assert len(free) > args.changes, "not enough unsampled lines to draw"
            change, check = (change_seed, check_seed) if kind == "seed" else (draw_line, check_drawn)
            view, core, wall = [], [], []
            for repeat in range(args.changes + 1):
                seed += 1
                if profile is not None and repeat:
                    profile.enable()
                c0, w0 = time.thread_time(), time.perf_counter()
                change(repeat, seed)
                process_events()
                c1, w1 = time.thread_time(), time.perf_counter()
                if profile is not None:
                    profile.disable()
                check(repeat, seed)
                assert [row["method"] for row in widget.displayed_readouts()] == list(methods), "table not updated"
                mask = s.mask()
                c2 = time.thread_time()
                for m in methods:
                    infer_slices(kspace, mask, m, device="cpu", recon_shape=s.recon_shape)
                c3 = time.thread_time()
                if repeat:
                    view.append(c1 - c0)
                    core.append(c3 - c2)
                    wall.append(w1 - w0)
            if kind == "drawn":
                widget.mask_editor.reset()
                widget.mask_editor.set_editing(False)
                process_events()
            v, c = statistics.median(view), statistics.median(core)
            print(f"{kind:<6} {'+'.join(methods):<20} view CPU {v:.3f} s, core CPU {c:.3f} s, view-core {v - c:.3f} s, "
                  f"ratio {v / c:.2f}x; view wall {statistics.median(wall):.3f} s", flush=True)
    viewer.close()
    load = os.getloadavg()
    print(f"load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if profile is not None:
        profile.dump_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
