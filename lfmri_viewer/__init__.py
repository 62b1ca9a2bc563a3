"""LF-MRI viewers: a GUI-free session controller with napari and Jupyter front ends.

The controller and both front ends build on :mod:`lfmri_core`; the core never imports this
package.
"""
