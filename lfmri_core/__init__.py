"""LF-MRI core: data I/O, sampling masks, multi-coil physics, metrics, synthetic data and
reconstruction. Pure compute: never imports a GUI toolkit."""

from lfmri_core.errors import InputError

__version__ = "0.1.0"

__all__ = ["InputError", "__version__"]
