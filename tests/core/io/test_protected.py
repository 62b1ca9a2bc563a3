"""No input is ever overwritten: protected inputs, atomic writes, orphans of killed writers."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import lfmri_core.io.atomic as atomic
from lfmri_core.errors import InputError
from lfmri_core.io.atomic import atomic_path, atomic_write_text
from lfmri_core.io.bart_cfl import write_cfl
from lfmri_core.io.fastmri_h5 import write_reconstruction
from lfmri_core.io.protected import check_distinct_outputs, check_output, protect_inputs, protected_inputs
from lfmri_core.io.volume import volume_files


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (names relative to it): what must not change."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.h5"
    path.write_bytes(b"k-space that must survive")
    return path


def test_a_protected_input_is_refused_by_every_writer(source: Path, tmp_path: Path) -> None:
    before = digests(tmp_path)
    with protect_inputs(source):
        for write in (lambda: atomic_write_text(source, "{}"), lambda: write_reconstruction(source, np.ones((1, 4, 4)))):
            with pytest.raises(InputError) as refused:
                write()
            message = str(refused.value)
            assert "\n" not in message and message.startswith(f"{source} is an input file;")
            assert "input files are never overwritten" in message and ".part" not in message
        write_cfl(tmp_path / "in", np.ones((4, 4)))  # in.cfl and in.hdr are no inputs
    assert digests(tmp_path)["in.h5"] == before["in.h5"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.cfl", "in.h5", "in.hdr"]
    assert protected_inputs() == ()


@pytest.mark.parametrize("spelling", ["symlink", "hard link", "dotdot", "symlinked folder"])
def test_other_spellings_of_an_input_are_refused(spelling: str, source: Path, tmp_path: Path) -> None:
    if spelling == "symlink":
        target = tmp_path / "link.h5"
        target.symlink_to(source)
    elif spelling == "hard link":
        target = tmp_path / "hard.h5"
        os.link(source, target)
    elif spelling == "dotdot":
        (tmp_path / "sub").mkdir()
        target = tmp_path / "sub" / ".." / "in.h5"
    else:
        (tmp_path / "alias").symlink_to(tmp_path, target_is_directory=True)
        target = tmp_path / "alias" / "in.h5"
    before = digests(tmp_path)
    with protect_inputs(source), pytest.raises(InputError) as refused:
        atomic_write_text(target, "report")
    assert str(refused.value).startswith(f"{target} is the input file {source};")
    assert digests(tmp_path) == before
    assert not list(tmp_path.glob(".*.part"))


def test_a_bart_input_protects_both_files(tmp_path: Path) -> None:
    write_cfl(tmp_path / "phantom", np.ones((4, 4), np.complex64))
    before = digests(tmp_path)
    with protect_inputs(*volume_files(tmp_path / "phantom.cfl")):
        for name in ("phantom.cfl", "phantom.hdr"):
            with pytest.raises(InputError, match=f"{name} is an input file"):
                atomic_write_text(tmp_path / name, "{}")
        with pytest.raises(InputError, match="phantom.hdr is an input file"):
            write_cfl(tmp_path / "phantom", np.zeros((2, 2)))
    assert digests(tmp_path) == before


def test_two_file_writers_write_neither_file_when_one_is_refused(tmp_path: Path) -> None:
    from lfmri_core.io.annotations import FileAnnotations, write_annotations

    (tmp_path / "x.cfl").write_bytes(b"")
    (tmp_path / "ann_file_list.csv").write_text("file1\n")
    before = digests(tmp_path)
    with protect_inputs(tmp_path / "x.cfl", tmp_path / "ann_file_list.csv"):
        with pytest.raises(InputError, match=r"x\.cfl is an input file"):
            write_cfl(tmp_path / "x", np.ones((2, 2)))
        with pytest.raises(InputError, match=r"ann_file_list\.csv is an input file"):
            write_annotations(tmp_path / "ann.csv", [FileAnnotations("file1")], file_list=tmp_path / "ann_file_list.csv")
    assert digests(tmp_path) == before  # no x.hdr, no ann.csv


def test_protection_ends_with_its_scope(source: Path, tmp_path: Path) -> None:
    """Writes, reads and rewrites of files that are no input (or no longer) go through."""
    scope = protect_inputs(source)
    other = tmp_path / "cache" / "manifest.json"
    for text in ("1", "2"):
        atomic_write_text(other, text)
        assert other.read_text() == text
    with protect_inputs(other):  # scopes nest; leaving the inner one keeps the outer
        pass
    with pytest.raises(InputError):
        atomic_write_text(source, "x")
    scope.release()
    scope.release()
    atomic_write_text(source, "rewritten")
    assert source.read_text() == "rewritten" and protected_inputs() == ()
    with pytest.raises(RuntimeError, match="released"):
        scope.add(other)


def test_check_output_names_the_option(source: Path) -> None:
    with protect_inputs(source):
        check_output(source.with_name("new.h5"), option="--out")
        with pytest.raises(InputError, match=r"^--report .*in\.h5 is an input file"):
            check_output(source, option="--report")
    check_output(source, option="--report")  # not protected any more


def test_two_outputs_with_one_path_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "x.h5"
    check_distinct_outputs({"--out": out, "--report": None})
    check_distinct_outputs({"--out": out, "--report": tmp_path / "x.json"})
    with pytest.raises(InputError, match=r"^--out .*x\.h5 and --report .*x\.h5 are the same file: choose two names$"):
        check_distinct_outputs({"--out": out, "--report": tmp_path / "sub" / ".." / "x.h5"})


# --- temporary files ----------------------------------------------------------------------------
_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from lfmri_core.io.atomic import atomic_path
    with atomic_path(sys.argv[1]) as tmp:
        tmp.write_bytes(b"half a file")
        os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.skipif(os.name == "nt", reason="kill -9 and pid checks are POSIX")
def test_orphans_of_a_killed_writer_are_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "recon.h5"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target)])
    assert proc.wait(timeout=120) == -signal.SIGKILL  # waited for: no zombie that would still count as running
    orphans = list(tmp_path.glob(".recon.h5.*.part"))
    assert len(orphans) == 1 and f"-{proc.pid}-" in orphans[0].name
    # Temporary files that are not orphans of this target stay: a live writer's (this process
    # and a sleeping child), another target's whose name starts alike, a recent legacy one.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = [tmp_path / f".recon.h5.{atomic._HOST}-{pid}-0a0b0c0d.part" for pid in (os.getpid(), sleeper.pid)]
        others = [tmp_path / f".recon.h5.old.{atomic._HOST}-{proc.pid}-0a0b0c0d.part", tmp_path / ".recon.h5.notes.part",
                  tmp_path / ".recon.h5.0123456789ab.part"]
        for path in (*alive, *others):
            path.write_bytes(b"")
        legacy = tmp_path / ".recon.h5.ba9876543210.part"  # the old format: no pid; older than this process
        legacy.write_bytes(b"")
        os.utime(legacy, (atomic._STARTED - 60, atomic._STARTED - 60))
        foreign = tmp_path / f".recon.h5.{'f' if atomic._HOST[0] != 'f' else 'e'}{atomic._HOST[1:]}-1-00.part"
        foreign.write_bytes(b"")
        os.utime(foreign, (time.time() - 2 * atomic.STALE_SECONDS,) * 2)

        write_reconstruction(target, np.ones((1, 4, 4)))
        left = sorted(p.name for p in tmp_path.iterdir())
    finally:
        sleeper.kill()
        sleeper.wait()
    assert left == sorted(["recon.h5", *(p.name for p in (*alive, *others))])


def test_an_error_while_writing_names_the_target(tmp_path: Path) -> None:
    target = tmp_path / "recon.h5"
    with pytest.raises(OSError) as raised, atomic_path(target) as tmp:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
    assert ".part" not in str(raised.value)
    with pytest.raises(NotADirectoryError) as raised, atomic_path(target) as tmp:
        (tmp / "inner").write_bytes(b"")  # a writer that fails on a path below the temporary one
    assert raised.value.filename == str(target / "inner")
    with pytest.raises(OSError, match=f"^Unable to write {re.escape(str(target))}$"), atomic_path(target) as tmp:
        raise OSError(f"Unable to write {tmp}")  # as h5py words it: no errno
    with pytest.raises(InputError, match=f"^{re.escape(str(target))}: bad$"), atomic_path(target) as tmp:
        raise InputError(f"{tmp}: bad")
    with pytest.raises(OSError) as raised, atomic_path(target):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/elsewhere/source.h5")
    assert raised.value.filename == "/elsewhere/source.h5"  # about another file: unchanged
    assert list(tmp_path.iterdir()) == []
