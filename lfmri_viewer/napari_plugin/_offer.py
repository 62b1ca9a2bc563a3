"""Which reconstruction methods the dock offers (the method-offer policy)."""

from __future__ import annotations

from lfmri_viewer.settings import offered_methods as offered_method_names


def offered_methods() -> list[str]:
    """Methods the user can choose (:func:`lfmri_viewer.settings.offered_methods`)."""
    return list(offered_method_names())



__all__ = ["offered_methods"]
