"""``python -m lfmri_core.cli`` (and ``torchrun ... -m lfmri_core.cli``): the ``lfmri`` command."""

import sys

from lfmri_core.cli import main

sys.exit(main())
