"""Extensions built only on the public API of :mod:`lfmri_core` (installed as ``lfmri_plugins``).

:mod:`.bart_pics`: BART's ``pics`` as the reconstruction methods ``bart-pics`` and
``bart-pics-ecalib``, declared in the ``lfmri.methods`` entry-point group of this repository's
``pyproject.toml``. How any package adds methods that way: ``docs/plugins.md``.
"""
