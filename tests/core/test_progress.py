"""Progress bars: on a terminal, off with --quiet or without one, forced by LFMRI_PROGRESS."""

from __future__ import annotations

import io
import sys

import pytest

from lfmri_core.progress import PROGRESS_ENV, bar_callback, bars_disabled, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _drawn(monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, **kwargs: object) -> str:
    monkeypatch.setattr(sys, "stderr", stream)
    with progress_bar(total=3, desc="stage", **kwargs) as bar:
        update = bar_callback(bar)
        for done in (1, 2, 3):
            update(done, 3)
    return stream.getvalue()


def test_a_terminal_gets_the_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert "stage: 100%" in _drawn(monkeypatch, _Terminal())


def test_quiet_or_no_terminal_gets_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert _drawn(monkeypatch, io.StringIO()) == ""
    assert _drawn(monkeypatch, _Terminal(), quiet=True) == ""


@pytest.mark.parametrize("value", ["1", "always"])
def test_forced_on_into_any_stream_but_not_past_quiet(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(PROGRESS_ENV, value)
    assert "stage: 100%" in _drawn(monkeypatch, io.StringIO())
    assert _drawn(monkeypatch, io.StringIO(), quiet=True) == ""


@pytest.mark.parametrize("value", ["0", "never"])
def test_forced_off_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(PROGRESS_ENV, value)
    assert _drawn(monkeypatch, _Terminal()) == ""


def test_disable_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert bars_disabled() is None and bars_disabled(quiet=True) is True
    monkeypatch.setenv(PROGRESS_ENV, "1")
    assert bars_disabled() is False


def test_the_callback_follows_a_changing_total(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROGRESS_ENV, "1")
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with progress_bar(total=None, desc="x") as bar:
        bar_callback(bar, "evaluate zero-filled")(4, 10)
        assert (bar.n, bar.total, bar.desc) == (4, 10, "evaluate zero-filled")
