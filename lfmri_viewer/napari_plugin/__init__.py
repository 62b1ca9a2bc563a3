"""The napari front end of the LF-MRI Viewer (npe2 plugin ``lfmri-viewer``).

``napari.yaml`` beside this file is the plugin manifest; napari finds it through the
``napari.manifest`` entry point. The plugin contributes

- a reader for fastMRI ``.h5`` files and BART ``.cfl``/``.hdr`` arrays (:mod:`._reader`): the
  reference image and the fastMRI+ lesion boxes found beside the file;
- the embedded synthetic knee sample, PD and PDFS (:mod:`._sample_data`);
- a writer for the lesion boxes layer (:mod:`._writer`): a fastMRI+ CSV, labels kept.

:mod:`._layers` converts between volumes, lesion boxes and napari layer data tuples with numpy
only, so it can be tested (and reused by the dock widget) without a display. Nothing here is
imported by :mod:`lfmri_core` or by the session controller, and the Jupyter front end is never
imported from here.
"""
