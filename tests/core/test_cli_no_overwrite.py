"""``lfmri`` never writes over one of its inputs, nor one output over another."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from lfmri_core.cli import main
from lfmri_core.io.annotations import FileAnnotations, LesionBox, write_annotations
from lfmri_core.io.bart_cfl import write_cfl
from lfmri_core.io.fastmri_h5 import write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo
from lfmri_core.io.protected import protected_inputs
from tests.conftest import random_complex
from tests.core.io.test_protected import digests

BOX = LesionBox(slice=1, label="Meniscus Tear", row0=5, row1=12, col0=3, col1=9)


@pytest.fixture
def folder(tmp_path: Path, rng: np.random.Generator) -> Path:
    """``data/in.h5`` with its annotations beside it, ``other/mine.csv`` (+ file list) and a
    BART array ``bart/phantom.{cfl,hdr}``."""
    data = tmp_path / "data"
    kspace = random_complex(rng, (2, 2, 16, 16))
    target = np.abs(np.fft.ifft2(kspace).sum(1)).astype(np.float32)
    write_volume(data / "in.h5", kspace, encoding=EncodingInfo.for_shape((16, 16)), reconstruction_rss=target)
    for csv in (data / "ann.csv", tmp_path / "other" / "mine.csv"):
        write_annotations(csv, [FileAnnotations("in", (BOX,), reviewed=True)],
                          file_list=csv.with_name(f"{csv.stem}_file_list.csv"), frame_height=16)
    write_cfl(tmp_path / "bart" / "phantom", random_complex(rng, (16, 16, 1, 2)))
    return tmp_path


def refused(argv: list[str], folder: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``lfmri`` expecting a refusal: exit 2, one error line, every file as it was, no new file."""
    before = digests(folder)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lfmri: error: "), err
    assert "wrote" not in out and ".part" not in err
    assert digests(folder) == before
    assert protected_inputs() == ()
    return lines[0]


@pytest.mark.parametrize(("option", "target"), [
    ("--report", "data/in.h5"),
    ("--out", "data/in.h5"),
    ("--report", "data/ann.csv"),            # found beside the file
    ("--out", "data/ann_file_list.csv"),
    ("--report", "data/sub/../in.h5"),
])
def test_recon_refuses_an_input_as_output(option: str, target: str, folder: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "data" / "sub").mkdir()
    line = refused(["recon", str(folder / "data" / "in.h5"), "--quiet", "--slices", "0",
                    option, str(folder / target)], folder, capsys)
    assert line.startswith(f"lfmri: error: {option} {folder / target} is ")
    assert line.endswith("input files are never overwritten and never modified: choose another name")


@pytest.mark.parametrize("target", ["other/mine.csv", "other/mine_file_list.csv"])
def test_recon_refuses_the_given_annotations_as_output(target: str, folder: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(["recon", str(folder / "data" / "in.h5"), "--quiet", "--slices", "0",
                    "--annotations", str(folder / "other" / "mine.csv"), "--report", str(folder / target)], folder, capsys)
    assert f"--report {folder / target} is an input file" in line


@pytest.mark.parametrize(("option", "target"), [("--out", "phantom.hdr"), ("--report", "phantom.cfl"),
                                                ("--report", "phantom.hdr")])
def test_recon_refuses_either_file_of_a_bart_input(option: str, target: str, folder: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(["recon", str(folder / "bart" / "phantom.cfl"), "--quiet", "--accel", "2", "--center-fraction", "0.2",
                    option, str(folder / "bart" / target)], folder, capsys)
    assert f"{option} {folder / 'bart' / target} is an input file" in line


@pytest.mark.parametrize("link", ["symlink", "hard link"])
def test_recon_refuses_a_link_to_an_input(link: str, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alias = folder / "alias.h5"
    if link == "symlink":
        alias.symlink_to(folder / "data" / "in.h5")
    else:
        os.link(folder / "data" / "in.h5", alias)
    line = refused(["recon", str(folder / "data" / "in.h5"), "--quiet", "--slices", "0", "--report", str(alias)],
                   folder, capsys)
    assert f"--report {alias} is the input file {folder / 'data' / 'in.h5'};" in line


def test_recon_refuses_one_path_for_two_outputs(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = folder / "x.h5"
    line = refused(["recon", str(folder / "data" / "in.h5"), "--quiet", "--out", str(out), "--report", str(out)],
                   folder, capsys)
    assert line == f"lfmri: error: --out {out} and --report {out} are the same file: choose two names"


def test_recon_writes_and_rewrites_its_outputs(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The protection is no obstacle to outputs, even written twice, nor does it outlive the command."""
    before = digests(folder)
    for _ in range(2):
        code = main(["recon", str(folder / "data" / "in.h5"), "--quiet", "--slices", "0",
                     "--out", str(folder / "data" / "in_recon.h5"), "--report", str(folder / "data" / "report.json")])
        assert code == 0, capsys.readouterr()
    after = digests(folder)
    assert {k: after[k] for k in before} == before
    assert sorted(set(after) - set(before)) == ["data/in_recon.h5", "data/report.json"]
    assert protected_inputs() == ()


def test_a_write_error_names_the_target(folder: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import h5py

    readable = h5py.File

    def full_disk(name: str | os.PathLike[str], mode: str = "r", *args: object, **kwargs: object) -> h5py.File:
        if mode == "r":
            return readable(name, mode, *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device", os.fspath(name))  # as h5py says it

    monkeypatch.setattr(h5py, "File", full_disk)
    out = folder / "recon.h5"
    line = refused(["recon", str(folder / "data" / "in.h5"), "--quiet", "--slices", "0", "--out", str(out)],
                   folder, capsys)
    assert line == f"lfmri: error: No space left on device: {out}"


def test_train_refuses_to_write_over_its_init_weights(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before any training step: the final weights would replace the starting ones."""
    run = folder / "run"
    run.mkdir()
    (run / "classifier.safetensors").write_bytes(b"weights to fine-tune")
    line = refused(["train", "classifier", "--out", str(run), "--width", "8", "--quiet",
                    "--init-weights", str(run / "classifier.safetensors")], folder, capsys)
    assert line.startswith(f"lfmri: error: --out {run / 'classifier.safetensors'} is an input file")
