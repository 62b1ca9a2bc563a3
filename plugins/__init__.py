"""Extensions built only on the public API of :mod:`lfmri_core` (installed as
``lfmri_plugins``), for example a reconstruction method registered with
:func:`lfmri_core.recon.register_method` from outside the core."""
