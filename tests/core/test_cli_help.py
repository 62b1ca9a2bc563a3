"""Every argument of ``lfmri`` and ``lfmri-view`` explains itself in ``--help``."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from lfmri_core.cli import build_parser, main


def _walk(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, argparse.Action]]:
    """Every action of ``parser`` and of its sub-commands, as ``(command, action)``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {choice.dest for choice in action._choices_actions}
            for command, sub in action.choices.items():
                assert command in listed, f"{name} {command} has no help line in '{name} --help'"
                yield from _walk(sub, f"{name} {command}")
        yield name, action


def _view_parser() -> argparse.ArgumentParser:
    from lfmri_viewer.cli import _parser

    return _parser()


@pytest.mark.parametrize(("name", "make"), [("lfmri", build_parser), ("lfmri-view", _view_parser)])
def test_every_argument_has_help(name: str, make: type[argparse.ArgumentParser]) -> None:
    actions = list(_walk(make(), name))
    assert len(actions) > (100 if name == "lfmri" else 6)
    missing = [f"{command}: {'/'.join(a.option_strings) or a.dest}" for command, a in actions
               if a.help is None or not str(a.help).strip()]
    assert missing == []


def _plain(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@pytest.mark.parametrize(("name", "make"), [("lfmri", build_parser), ("lfmri-view", _view_parser)])
def test_defaults_are_stated(name: str, make: type[argparse.ArgumentParser]) -> None:
    """An option with a default value names it in its help (argparse's own "(default ...)" or
    ours), so nobody has to read the code to learn what happens without it."""
    unstated = []
    for command, action in _walk(make(), name):
        default = action.default
        if (not action.option_strings or default in (None, False, argparse.SUPPRESS)
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction))):
            continue
        shown = " ".join(map(_plain, default)) if isinstance(default, list) else _plain(default)
        if "default" not in action.help or shown not in action.help:
            unstated.append(f"{command} {action.option_strings[0]} (default {shown})")
    assert unstated == []


def test_recon_method_default_is_in_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["recon", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default zero-filled" in text
    assert re.search(r"--device \{[^}]*\}\s+where to compute", text)


def test_view_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    from lfmri_viewer.cli import main as view_main

    with pytest.raises(SystemExit):
        view_main(["--help"])
    text = capsys.readouterr().out
    assert "napari with a k-space volume" in text and "Xvfb" in text
    assert "``" not in text and ":func:" not in text and ":mod:" not in text
