"""The one exception type for bad input.

Every check on user-supplied data or parameters raises :class:`InputError` with a
single-line message that names the problem (file, dataset, parameter and the offending
value). The CLI turns it into ``lfmri: error: <message>`` and exit status 2; the viewers
turn it into a notification. Something skipped or dropped on the way (a CSV beside a volume
that is not an annotation CSV, a lesion box outside the image) is an :class:`InputWarning`, one
line too: the CLI prints ``lfmri: warning: <message>``, the viewers show a warning.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input the user can fix. ``str(err)`` is one line naming the problem."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class InputWarning(UserWarning):
    """Part of the input was skipped or dropped and the work goes on. One line, like :class:`InputError`."""
