"""Main-thread CPU seconds of a parameter change in the napari widget and of the core call.

The scene of ``bench_viewer.py`` (the sample, the slice with the most boxes, jobs in place), but
timed in CPU seconds of the main thread (``time.thread_time``) as well as wall time: on a loaded
machine wall times are mostly waiting, CPU seconds still compare two versions of the viewer.
Run with ``OMP_NUM_THREADS=1`` so torch computes on the main thread too; Qt's GL rendering runs
in llvmpipe's threads and is not counted. Usage (under Xvfb)::

    OMP_NUM_THREADS=1 xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python benchmarks/bench_viewer_cpu.py [changes]
"""
import os
import statistics
import sys
import time

os.environ["LFMRI_VIEWER_SYNC"] = "1"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import napari
from lfmri_sample_data import ensure_sample_data
from qtpy.QtWidgets import QApplication

from lfmri_core.inference import infer_slices
from lfmri_viewer.napari_plugin._widget import ReconstructionWidget

path = next(p for p in ensure_sample_data() if p.suffix == ".h5")
viewer = napari.Viewer(show=True); viewer.window.resize(1800, 1100)
widget = ReconstructionWidget(viewer); viewer.window.add_dock_widget(widget, area="right")
s = widget.controller; widget.open_file(path)
s.set_slice(max(range(s.num_slices), key=lambda i: len(s.boxes(i))))
kspace = s._require().kspace(s.slice_index)
seed = 2000
for methods in (("zero-filled", "lfmri"), ("zero-filled",)):
    s.update(methods=methods)
    view, core, wall = [], [], []
    for repeat in range(int(sys.argv[1]) if len(sys.argv) > 1 else 6 + 1):
        seed += 1
        c0, w0 = time.thread_time(), time.perf_counter()
        widget.seed.setValue(seed)
        for _ in range(3): QApplication.processEvents()
        c1, w1 = time.thread_time(), time.perf_counter()
        mask = s.mask()
        for m in methods:
            assert s.result(m).mask_key[-1] == seed
            infer_slices(kspace, mask, m, device="cpu", recon_shape=s.recon_shape)
        c2 = time.thread_time()
        if repeat:
            view.append(c1 - c0); core.append(c2 - c1); wall.append(w1 - w0)
    v, c = statistics.median(view), statistics.median(core)
    print(f"{'+'.join(methods):<20} view CPU {v:.3f} s, core CPU {c:.3f} s, view-core {v - c:.3f} s, ratio {v / c:.2f}x; "
          f"view wall {statistics.median(wall):.3f} s")
viewer.close()
