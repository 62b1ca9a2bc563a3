"""The Jupyter front end of the LF-MRI Viewer (ipywidgets and matplotlib).

>>> from lfmri_viewer.jupyter import LFMRIWidget      # doctest: +SKIP
>>> LFMRIWidget("PD")                                  # doctest: +SKIP

- :class:`LFMRIWidget`: controls, the figure (reference, reconstruction with CAM overlay and
  lesion boxes, error map, CAM, mask, k-space), the live metrics table and a progress bar.
- :class:`CompareView`: the reference and several methods side by side at one slice.
- :class:`FailureCasesView`: the CAM failure cases with jump-to-slice buttons.
- :class:`ThreadRunner`: runs the session's jobs in a thread, results on the kernel's loop.
- :mod:`.teaching`: static figures for the teaching notebook.

All of them subscribe to a :class:`~lfmri_viewer.controller.SessionController`, the model the
napari plugin uses too; this package never imports the napari plugin.
"""

from lfmri_viewer.jupyter._compare import CompareView, FailureCasesView
from lfmri_viewer.jupyter._figure import FigureHost, interactive_backend
from lfmri_viewer.jupyter._runner import ThreadRunner
from lfmri_viewer.jupyter._widget import PANELS, LFMRIWidget

__all__ = ["PANELS", "CompareView", "FailureCasesView", "FigureHost", "LFMRIWidget", "ThreadRunner", "interactive_backend"]
