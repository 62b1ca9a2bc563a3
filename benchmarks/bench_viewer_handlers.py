"""Main-thread CPU of each viewer handler during changes in the napari widget (no profiler).

The scene of ``bench_viewer_cpu.py``; each handler of the scene, the widget and the mask editor,
the pipeline's reconstruction and metrics and ``processEvents`` are wrapped in a
``time.thread_time`` tally, so what the viewer adds to the core call is split by where it is
spent, without cProfile's overhead. Usage (under Xvfb, ``OMP_NUM_THREADS=1``)::

    python benchmarks/bench_viewer_handlers.py seed|drawn zero-filled[+lfmri] [changes]

``TREE`` in the environment: the source tree to time (default this repository).
"""
import os, sys, time, statistics, collections, functools
os.environ["LFMRI_VIEWER_SYNC"] = "1"
sys.path.insert(0, os.environ.get("TREE") or os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import napari
from lfmri_sample_data import ensure_sample_data
from qtpy.QtWidgets import QApplication
import lfmri_core.pipeline.run as prun
import lfmri_core.metrics.slice_scores as ss
from lfmri_viewer.napari_plugin import _mask_editor, _scene
from lfmri_viewer.napari_plugin._widget import ReconstructionWidget

acc = collections.defaultdict(float)
def wrap(owner, name, label):
    f = getattr(owner, name)
    @functools.wraps(f)
    def g(*a, **k):
        t = time.thread_time()
        try:
            return f(*a, **k)
        finally:
            acc[label] += time.thread_time() - t
    setattr(owner, name, g)

wrap(prun, "reconstruct_batch", "core reconstruct_batch")
wrap(ss, "score_slice", "score_slice")
prun.score_slice = ss.score_slice
for cls, names in [(_scene.Scene, ["_on_settings_changed", "_on_result_added", "_refill", "_update_kspace", "_update_mask"]),
                   (ReconstructionWidget, ["_on_settings_changed", "_on_readouts_changed", "_show_readouts", "_show_failures", "_show_mask", "_show_job"]),
                   (_mask_editor.MaskEditor, ["_show_pattern", "_on_settings_changed", "_show_summary"])]:
    for n in names:
        if n in cls.__dict__ or hasattr(cls, n):
            wrap(cls, n, f"{cls.__name__}.{n}")

path = next(p for p in ensure_sample_data() if p.suffix == ".h5")
viewer = napari.Viewer(show=True); viewer.window.resize(1800, 1100)
widget = ReconstructionWidget(viewer); viewer.window.add_dock_widget(widget, area="right")
s = widget.controller; widget.open_file(path)
s.set_slice(max(range(s.num_slices), key=lambda i: len(s.boxes(i))))
def pe():
    t = time.thread_time()
    for _ in range(3): QApplication.processEvents()
    acc["processEvents"] += time.thread_time() - t
kind = sys.argv[1]; methods = tuple(sys.argv[2].split("+")); n = int(sys.argv[3]) if len(sys.argv) > 3 else 8
s.update(methods=methods); pe()
free = []
if kind == "drawn":
    widget.mask_editor.set_editing(True); widget.mask_editor.reset(); pe()
    pattern = s.mask().pattern; width = pattern.shape[-1]
    free = sorted((c for c in range(width) if not pattern[c]), key=lambda c: abs(c - width // 2))
seed = 3000; totals = []
for r in range(n + 1):
    if r == 1: acc.clear()
    seed += 1
    t = time.thread_time()
    if kind == "seed": widget.seed.setValue(seed)
    else:
        widget.mask_editor.toggle_line(free[r]); widget.mask_editor.commit()
    pe()
    if r: totals.append(time.thread_time() - t)
print(f"{kind} {'+'.join(methods)}: total per change {statistics.mean(totals)*1e3:.1f} ms (median {statistics.median(totals)*1e3:.1f})")
for k, v in sorted(acc.items(), key=lambda kv: -kv[1]):
    print(f"  {k:<45} {v / n * 1e3:8.1f} ms")
viewer.close()
