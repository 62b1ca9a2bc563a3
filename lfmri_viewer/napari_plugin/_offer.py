"""Which reconstruction methods the dock offers (the method-offer policy)."""

from __future__ import annotations

from lfmri_core.recon import available_methods, installed_learned_methods, method_info


def offered_methods() -> list[str]:
    """Methods the user can choose: every classical one, learned ones only with weights."""
    installed = set(installed_learned_methods())
    return [m for m in available_methods() if not method_info(m).learned or m in installed]



__all__ = ["offered_methods"]
