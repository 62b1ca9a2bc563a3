"""``lfmri train``: a run end to end, resume, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lfmri_core.cli import main
from lfmri_core.models import read_weights_metadata

ROOT = Path(__file__).resolve().parents[3]
TINY = ["--crop-rows", "32", "--width", "4", "--num-stages", "1", "--device", "cpu", "--quiet", "--val-slices", "1"]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = _run(args, capsys)
    assert code == 2 and out == ""
    assert err.startswith("lfmri: error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture(scope="module")
def classifier_file(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("classifier_run")
    code = main(["train", "classifier", "--data", str(tiny_data), "--annotations", str(tiny_data / "lfmri_knee.csv"),
                 "--steps", "1", "--width", "4", "--device", "cpu", "--quiet", "--out", str(out)])
    assert code == 0
    return out / "classifier.safetensors"


def test_train_lfmri_and_resume(tiny_data: Path, classifier_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    base = ["train", "lfmri", "--data", str(tiny_data), "--annotations", str(tiny_data / "lfmri_knee.csv"),
            "--classifier", str(classifier_file), "--out", str(tmp_path), *TINY]
    code, out, _ = _run([*base, "--steps", "1"], capsys)
    assert code == 0 and "lfmri: 1 step in" in out and "LF-PSNR" in out
    meta = read_weights_metadata(tmp_path / "lfmri.safetensors")
    assert meta["command"].startswith("lfmri train lfmri --out ") and "--classifier" in meta["command"]
    assert json.loads(meta["training_config"])["loss"]["lesion"] == 1.0  # lfmri's default lesion weight
    assert meta["steps"] == "1" and meta["machine"] and meta["data"].startswith("fastMRI folder")

    err = _error([*base, "--steps", "2"], capsys)
    assert "already holds a checkpoint" in err
    code, out, _ = _run([*base, "--steps", "2", "--resume"], capsys)
    assert code == 0 and "lfmri: 2 steps" in out

    code, out, _ = _run([*base[:-len(TINY)], "--out", str(tmp_path / "mix"), *TINY, "--steps", "1", "--lesion-fraction", "0.5"], capsys)
    assert code == 0
    meta = read_weights_metadata(tmp_path / "mix" / "lfmri.safetensors")
    assert json.loads(meta["training_config"])["lesion_fraction"] == 0.5 and "--lesion-fraction 0.5" in meta["command"]
    assert "lesion fraction must be in (0, 1]" in _error([*base, "--lesion-fraction", "1.5"], capsys)
    err = _error(["train", "unet", "--data", str(tiny_data), "--out", str(tmp_path), "--resume", "--device", "cpu"], capsys)
    assert "checkpoint of 'lfmri', not of 'unet'" in err


def test_bad_input_is_one_line(tiny_data: Path, classifier_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert "does not exist" in _error(["train", "unet", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")], capsys)
    (tmp_path / "empty").mkdir()
    assert "no .h5 files" in _error(["train", "unet", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o")], capsys)
    assert "--classifier" in _error(["train", "lfmri", "--data", str(tiny_data), "--out", str(tmp_path / "o")], capsys)
    lfmri_weights = tmp_path / "unet-run"
    wrong = _error(["train", "lfmri", "--data", str(tiny_data), "--out", str(tmp_path / "o"),
                    "--classifier", str(tiny_data / "tiny_10000.h5")], capsys)
    assert "not a readable safetensors file" in wrong
    assert "steps must be" in _error(["train", "unet", "--steps", "0", "--out", str(tmp_path / "o")], capsys)
    assert "nothing to resume" in _error(["train", "unet", "--data", str(tiny_data), "--out", str(tmp_path / "o"),
                                          "--resume"], capsys)
    assert "does not apply to unet" in _error(["train", "unet", "--num-stages", "2", "--out", str(tmp_path / "o")], capsys)
    assert "invalid choice" in _error(["train", "resnet", "--out", str(tmp_path / "o")], capsys)
    assert "--twin-pairs does not apply to unet" in _error(["train", "unet", "--twin-pairs", "--out", str(tmp_path / "o")], capsys)
    assert "--denoiser does not apply to unet" in _error(["train", "unet", "--denoiser", "unet", "--out", str(tmp_path / "o")],
                                                         capsys)
    assert "--levels does not apply to classifier" in _error(["train", "classifier", "--levels", "2", "--out",
                                                              str(tmp_path / "o")], capsys)
    assert "--pooling does not apply to lfmri" in _error(["train", "lfmri", "--pooling", "top-k", "--out", str(tmp_path / "o")],
                                                         capsys)
    assert "twin pairs need lesion slices" in _error(
        ["train", "classifier", "--data", str(tiny_data), "--annotations", str(tiny_data / "lfmri_knee.csv"), "--twin-pairs",
         "--device", "cpu", "--quiet", "--out", str(tmp_path / "o")], capsys)
    assert "needs --data DIR" in _error(["train", "unet", "--annotations", "x.csv", "--out", str(tmp_path / "o")], capsys)
    assert "--lesion-free-twins applies to --data synthetic only" in _error(
        ["train", "classifier", "--data", str(tiny_data), "--lesion-free-twins", "--out", str(tmp_path / "o")], capsys)
    # a weights file of another kind where the classifier belongs
    code, _, _ = _run(["train", "unet", "--data", str(tiny_data), "--steps", "1", "--val-volumes", "0", "--width", "4",
                       "--crop-rows", "32", "--device", "cpu", "--quiet", "--out", str(lfmri_weights)], capsys)
    assert code == 0
    kind = _error(["train", "lfmri", "--data", str(tiny_data), "--out", str(tmp_path / "o"),
                   "--classifier", str(lfmri_weights / "unet.safetensors")], capsys)
    assert "unet" in kind and "classifier" in kind
    assert not (tmp_path / "o").exists()


def test_error_exit_status_from_a_real_process(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "lfmri_core.cli", "train", "lfmri", "--out", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("lfmri: error: training lfmri needs --classifier") and done.stderr.count("\n") == 1


def test_oracle_focus_training_from_the_command_line(tiny_data: Path, classifier_file: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    base = ["train", "lfmri", "--data", str(tiny_data), "--annotations", str(tiny_data / "lfmri_knee.csv"), *TINY]
    code, out, err = _run([*base, "--focus", "oracle", "--relax-denoiser", "--preload", "--steps", "1",
                           "--out", str(tmp_path / "oracle")], capsys)
    assert code == 0, err
    meta = read_weights_metadata(tmp_path / "oracle" / "lfmri.safetensors")
    assert "--focus oracle" in meta["command"] and "--relax-denoiser" in meta["command"]
    from lfmri_core.models import load_weights

    model = load_weights(tmp_path / "oracle" / "lfmri.safetensors")
    assert model.config.focus == "oracle" and model.config.relax_denoiser and model.classifier is None  # type: ignore[union-attr]
    # fine-tuning keeps the file's architecture, but the focus options of the command line apply
    code, out, err = _run([*base, "--focus", "oracle", "--steps", "1", "--out", str(tmp_path / "plain")], capsys)
    assert code == 0, err
    plain = tmp_path / "plain" / "lfmri.safetensors"
    assert not load_weights(plain).config.relax_denoiser  # type: ignore[union-attr]
    code, out, err = _run([*base, "--init-weights", str(plain), "--focus", "oracle", "--relax-denoiser", "--steps", "1",
                           "--out", str(tmp_path / "tuned")], capsys)
    assert code == 0, err
    tuned = load_weights(tmp_path / "tuned" / "lfmri.safetensors")
    assert tuned.config.focus == "oracle" and tuned.config.relax_denoiser  # type: ignore[union-attr]
    err = _error([*base, "--init-weights", str(plain), "--focus", "cam", "--classifier", str(classifier_file),
                  "--steps", "1", "--out", str(tmp_path / "mismatch")], capsys)
    assert "--focus cam does not match the focus of --init-weights" in err
    cases = [
        ([*base, "--focus", "oracle", "--classifier", str(classifier_file)], "--focus oracle uses the annotated boxes"),
        (["train", "unet", "--data", str(tiny_data), "--focus", "oracle", *TINY[:2]], "--focus applies to lfmri only"),
        (["train", "lfmri", "--data", str(tiny_data), "--focus", "oracle", *TINY], "--focus oracle needs the lesion boxes"),
        ([*base, "--classifier", str(classifier_file), "--pace-group", str(tmp_path)], "--pace-group needs --time-budget"),
        ([*base, "--classifier", str(classifier_file), "--time-budget", "-3"], "time budget must be a positive number"),
        ([*base, "--classifier", str(classifier_file), "--preload", "--workers", "1"], "--preload reads the data"),
        ([*base, "--classifier", str(classifier_file), "--data-workers", "2"], "--data-workers applies to --data synthetic"),
        (["train", "lfmri", "--recon-fraction", "0.5", *TINY], "--recon-fraction does not apply to lfmri"),
        (["train", "classifier", "--recon-weights", str(tmp_path / "none.safetensors"), "--device", "cpu"],
         "--recon-weights"),
        ([*base, "--classifier", str(classifier_file), "--init-weights", str(tmp_path / "none.safetensors")],
         "--init-weights"),
    ]
    for args, message in cases:
        err = _error([*args, "--out", str(tmp_path / "x")], capsys)
        assert message in err, (args, err)


def test_residual_lesion_module_starts_from_the_no_focus_network(tiny_data: Path, classifier_file: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from lfmri_core.models import LesionCorrection, load_weights

    capsys.readouterr()
    data = ["--data", str(tiny_data), "--annotations", str(tiny_data / "lfmri_knee.csv")]
    code, out, err = _run(["train", "unrolled-no-focus", *data, *TINY, "--steps", "1", "--out", str(tmp_path / "ab")], capsys)
    assert code == 0, err
    ablation_file = tmp_path / "ab" / "unrolled-no-focus.safetensors"
    ablation = load_weights(ablation_file)
    base = ["train", "lfmri", *data, "--classifier", str(classifier_file), "--device", "cpu", "--quiet",
            "--crop-rows", "32", "--val-slices", "1"]
    # no steps trained: the loaded denoisers are the ablation's, the lesion module is new
    code, _, err = _run([*base, "--init-weights", str(ablation_file), "--lesion-module", "residual",
                           "--mu2-init", "0.1", "--steps", "1", "--lr", "1e-30", "--out", str(tmp_path / "res")], capsys)
    assert code == 0, err
    tuned = load_weights(tmp_path / "res" / "lfmri.safetensors")
    assert tuned.config.lesion_module == "residual" and tuned.config.num_stages == 1  # type: ignore[union-attr]
    assert isinstance(tuned.lesion_nets[0], LesionCorrection)  # type: ignore[union-attr,index]
    assert abs(float(tuned.mu2.detach()[0]) - 0.1) < 1e-6  # type: ignore[union-attr,index]
    for name, value in ablation.state_dict().items():
        torch.testing.assert_close(tuned.state_dict()[name], value, rtol=1e-20, atol=1e-20)
    meta = read_weights_metadata(tmp_path / "res" / "lfmri.safetensors")
    assert "--lesion-module residual" in meta["command"] and "--mu2-init 0.1" in meta["command"]
    err = _error([*base, "--init-weights", str(ablation_file), "--steps", "1", "--out", str(tmp_path / "sep")], capsys)
    assert "can start from it only with --lesion-module residual" in err
    err = _error([*base, "--init-weights", str(tmp_path / "res" / "lfmri.safetensors"), "--lesion-module", "separate",
                  "--steps", "1", "--out", str(tmp_path / "mis")], capsys)
    assert "--lesion-module separate does not match the lesion module of --init-weights" in err
    err = _error(["train", "unet", *data, "--lesion-module", "residual", *TINY[:2], "--out", str(tmp_path / "u")], capsys)
    assert "--lesion-module applies to lfmri only" in err
    # the lesion term that moves the denoiser's target: stored in the config and the command
    code, _, err = _run([*base, "--init-weights", str(ablation_file), "--lesion-module", "residual", "--lesion-term",
                         "target", "--mu2-init", "1", "--steps", "1", "--lr", "1e-30", "--out", str(tmp_path / "tgt")], capsys)
    assert code == 0, err
    target = load_weights(tmp_path / "tgt" / "lfmri.safetensors")
    assert target.config.lesion_term == "target"  # type: ignore[union-attr]
    assert "--lesion-term target" in read_weights_metadata(tmp_path / "tgt" / "lfmri.safetensors")["command"]
    err = _error([*base, "--lesion-term", "target", "--steps", "1", "--out", str(tmp_path / "sep-t")], capsys)
    assert "lesion_term 'target' needs lesion_module 'residual'" in err
    err = _error([*base, "--init-weights", str(ablation_file), "--lesion-module", "residual", "--cam-once",
                  "--steps", "1", "--out", str(tmp_path / "once")], capsys)
    assert "cam_once needs lesion_focus on and at least 2 stages" in err


def test_box_weighted_lesion_loss_from_the_command_line(tiny_data: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    base = ["train", "unrolled-no-focus", "--data", str(tiny_data), "--annotations", str(tiny_data / "lfmri_knee.csv"),
            *TINY]
    code, _, err = _run([*base, "--lesion-weight", "2", "--lesion-loss-focus", "boxes", "--steps", "1",
                           "--out", str(tmp_path / "boxes")], capsys)
    assert code == 0, err
    meta = read_weights_metadata(tmp_path / "boxes" / "unrolled-no-focus.safetensors")
    assert "--lesion-loss-focus boxes" in meta["command"]
    loss = json.loads(meta["training_config"])["loss"]
    assert (loss["lesion"], loss["lesion_focus"]) == (2.0, "boxes")
    cases = [
        ([*base, "--lesion-loss-focus", "boxes"], "needs a reconstruction task and a lesion weight above 0"),
        (["train", "unrolled-no-focus", "--data", str(tiny_data), "--lesion-weight", "1", "--lesion-loss-focus", "boxes",
          *TINY], "--lesion-loss-focus boxes needs the lesion boxes"),
        (["train", "classifier", "--lesion-loss-focus", "boxes", "--device", "cpu"],
         "--lesion-loss-focus does not apply to classifier"),
        ([*base, "--lesion-weight", "1", "--lesion-loss-focus", "pointer"], "needs the phase-1 classifier (--classifier PATH)"),
    ]
    for n, (args, message) in enumerate(cases):
        err = _error([*args, "--out", str(tmp_path / f"bad{n}")], capsys)
        assert message in err, err
        assert not (tmp_path / f"bad{n}").exists()
