"""The GUI-free session controller: state, events, jobs, readouts, boxes and tables."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lfmri_viewer.session_jobs as session_jobs
from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox, read_annotations
from lfmri_core.io.bart_cfl import write_cfl
from lfmri_core.io.fastmri_h5 import FastMRIVolume
from lfmri_core.metrics import lf_psnr_slice, lf_ssim_slice, slice_metrics
from lfmri_core.physics import center_crop, ifft2c, rss
from lfmri_core.recon.pipeline import volume_mask
from lfmri_core.synthetic import SyntheticConfig, generate_volume
from lfmri_core.synthetic.export import write_dataset
from lfmri_viewer.controller import ERROR_FRACTION, SessionController
from lfmri_viewer.formatting import timing_line
from lfmri_viewer.jobs import Job, JobState, Progress, run_sync
from lfmri_viewer.settings import ReconSettings
from tests.tolerances import assert_close_in_norm, relative_error, rounding_rtol

FAST = ("zero-filled", "zero-filled-sense")


@pytest.fixture(scope="module")
def knee(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-slice, 4-coil synthetic knee in the fastMRI format with fastMRI+ annotations beside it."""
    folder = tmp_path_factory.mktemp("knee")
    volume = generate_volume(SyntheticConfig(num_slices=4, num_coils=4, seed=4))
    path = write_dataset(folder, [("file_knee", volume)])[0]
    assert volume.boxes, "the fixture needs a volume with lesions"
    return path


def _fft_rtol(kspace: np.ndarray | torch.Tensor) -> float:
    """Two computations of an RSS image: each one complex64 inverse FFT and a sum over the coils."""
    return rounding_rtol(np.complex64, fft_points=kspace.shape[-2] * kspace.shape[-1], fft_passes=2, terms=kspace.shape[-3])


def _metric_tolerances(image: np.ndarray) -> tuple[float, float]:
    """``(dB, SSIM)`` rounding bounds of a metric of ``image`` computed twice in float64: a
    relative change ``d`` of an MSE moves its PSNR by ``10 / ln 10 * d`` dB; SSIM (at most 1)
    sums 7 x 7 windows and then the pixels."""
    db = 10 / math.log(10) * rounding_rtol(np.float64, terms=image.size)
    return db, rounding_rtol(np.float64, terms=49 * image.size)


FLOAT32_MAP_ATOL = float(np.finfo(np.float32).eps)
"""LF-SSIM pools the stored SSIM map, kept as float32: each value (at most 1 in magnitude) is
rounded by at most half a float32 ulp, and so is their mean."""


def _session(**kwargs: Any) -> SessionController:
    kwargs.setdefault("settings", ReconSettings(methods=FAST))
    kwargs.setdefault("classifier", None)
    return SessionController(**kwargs)


def _record(session: SessionController) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []
    for name in ("slice_changed", "settings_changed", "readouts_changed", "boxes_changed", "notice", "job_finished"):
        getattr(session.events, name).connect(lambda *args, _n=name: seen.append((_n, args[0] if len(args) == 1 else args)))
    return seen


def _lesion_slice(session: SessionController) -> int:
    return max(range(session.num_slices), key=lambda i: len(session.boxes(i)))


# --- settings ------------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"acceleration": 0.5}, "acceleration"),
    ({"mask": "spiral"}, "spiral"),
    ({"center_fraction": 1.5}, "center"),
    ({"methods": ()}, "at least one method"),
    ({"methods": ("zero-filled", "zero-filled")}, "twice"),
    ({"methods": ("nope",)}, "nope"),
    ({"device": "tpu"}, "device"),
    ({"seed": -1}, "seed"),
    ({"virtual_coils": 0}, "virtual coils must be a positive integer"),
    ({"speed": 3}, "unknown setting"),
])
def test_bad_settings_are_refused_with_one_line(changes: dict[str, Any], message: str) -> None:
    session = _session()
    before = session.settings
    with pytest.raises(InputError, match=message) as info:
        session.update(**changes)
    assert "\n" not in str(info.value)
    assert session.settings == before


def test_default_settings_include_lfmri_when_its_weights_are_installed() -> None:
    from lfmri_core.recon import installed_learned_methods

    methods = SessionController(classifier=None).settings.methods
    assert methods[0] == "zero-filled"
    assert ("lfmri" in methods) == ("lfmri" in installed_learned_methods())


# --- opening -------------------------------------------------------------------------------------
def test_open_reads_the_volume_lazily_with_its_annotations(knee: Path) -> None:
    session = _session()
    seen = _record(session)
    info = session.open(knee)
    assert info.name == knee.name and session.num_slices == 4 and session.slice_index == 2
    expected = read_annotations(knee.with_name("lfmri_knee.csv"), frame_shape=info.recon_shape).for_file(knee.name).boxes
    assert session.all_boxes() == tuple(sorted(expected, key=lambda b: b.slice))
    with FastMRIVolume(knee) as vol:
        np.testing.assert_array_equal(session.reference(1), vol.target(1))
        assert session.maxval == float(vol.target_volume().max())
    assert ("boxes_changed", -1) in seen and ("slice_changed", 2) in seen
    assert session.error_limits() == (0.0, ERROR_FRACTION * session.maxval)


@pytest.mark.parametrize("content", [b"", b"not an hdf5 file at all"])
def test_a_broken_file_raises_one_line_and_keeps_the_open_volume(knee: Path, tmp_path: Path, content: bytes) -> None:
    session = _session()
    session.open(knee)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(content)
    with pytest.raises(InputError) as info:
        session.open(broken)
    assert "\n" not in str(info.value) and "broken.h5" in str(info.value)
    assert session.path == knee and session.num_slices == 4
    with pytest.raises(InputError, match="no such file"):
        session.open(tmp_path / "missing.h5")
    with pytest.raises(InputError, match="folder"):
        session.open(tmp_path)


def test_nothing_open_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="no volume is open"):
        _session().reconstruct_slice()


def test_bart_volume_uses_the_rss_of_its_kspace_as_reference(knee: Path, tmp_path: Path) -> None:
    with FastMRIVolume(knee) as vol:
        kspace = np.stack([vol.kspace(i) for i in range(vol.info.num_slices)])  # (S, C, H, W)
    write_cfl(tmp_path / "knee", np.ascontiguousarray(np.transpose(kspace, (2, 3, 0, 1))))  # (H, W, S, C)
    session = _session()
    session.open(tmp_path / "knee.cfl")
    expected = rss(ifft2c(torch.from_numpy(kspace[3]))).numpy()
    assert_close_in_norm(session.reference(3), expected, _fft_rtol(kspace))
    assert session.all_boxes() == ()


def test_input_files_are_never_modified(knee: Path, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in knee.parent.iterdir()}
    session = _session()
    session.open(knee)
    session.reconstruct_slice()
    session.set_boxes(0, [LesionBox(0, "drawn", 10, 20, 10, 20)])
    session.save_annotations(tmp_path / "edited.csv")
    with pytest.raises(InputError, match="never modified"):
        session.load_annotations(knee.with_name("lfmri_knee.csv"))
        session.save_annotations(knee.with_name("lfmri_knee.csv"))
    assert {p: p.read_bytes() for p in knee.parent.iterdir()} == before


# --- reconstruction and readouts ---------------------------------------------------------------------
def test_readouts_equal_the_core_metrics(knee: Path) -> None:
    session = _session()
    session.open(knee)
    index = _lesion_slice(session)
    session.set_slice(index)
    job = session.reconstruct_slice()
    assert job is not None and job.state is JobState.DONE
    ref, maxval, boxes = session.reference(index), session.maxval, session.boxes(index)
    readouts = session.readouts()
    assert list(readouts) == list(FAST)
    for method, readout in readouts.items():
        image = session.result(method).image
        assert image.shape == session.recon_shape
        whole = slice_metrics(ref, image, maxval)
        db, ssim_atol = _metric_tolerances(image)
        assert readout.psnr == pytest.approx(whole["psnr"], rel=0, abs=db)
        assert readout.ssim == pytest.approx(whole["ssim"], rel=0, abs=ssim_atol)
        assert readout.lf_psnr == pytest.approx(lf_psnr_slice(ref, image, boxes, maxval), rel=0, abs=db)
        assert readout.lf_ssim == pytest.approx(lf_ssim_slice(ref, image, boxes, maxval), rel=0, abs=ssim_atol + FLOAT32_MAP_ATOL)
        np.testing.assert_array_equal(session.error_map(method), np.abs(image - ref))
        assert readout.cam_hit is None  # no classifier in this session
        assert set(readout.timings) >= {"reconstruction", "metrics", "total"}


def test_zero_filled_matches_the_pipeline_mask_and_crop(knee: Path) -> None:
    session = _session(settings=ReconSettings(acceleration=8, center_fraction=0.04, methods=("zero-filled",)))
    session.open(knee)
    session.reconstruct_slice(1)
    with FastMRIVolume(knee) as vol:
        mask = volume_mask(vol.info, ReconSettings(acceleration=8, center_fraction=0.04).mask_spec())
        kspace = torch.from_numpy(vol.kspace(1)) * mask.to_tensor(vol.kspace(1).shape)
        expected = center_crop(rss(ifft2c(kspace)), vol.info.recon_shape).numpy()
    np.testing.assert_array_equal(session.mask().pattern, mask.pattern)
    assert_close_in_norm(session.result("zero-filled", 1).image, expected, _fft_rtol(kspace))


def test_results_are_cached_per_mask_setting(knee: Path) -> None:
    session = _session()
    session.open(knee)
    seen = _record(session)
    assert session.reconstruct_slice() is not None
    assert session.reconstruct_slice() is None  # everything there: no job, readouts at once
    assert seen[-1] == ("readouts_changed", session.slice_index)
    four = session.readouts()["zero-filled"].psnr
    session.update(acceleration=8)
    assert session.results() == {} and session.missing() == list(FAST)
    session.reconstruct_slice()
    assert session.readouts()["zero-filled"].psnr < four  # 8x loses more than 4x
    session.update(acceleration=4)
    assert session.readouts()["zero-filled"].psnr == four  # back to the cached 4x result


def test_virtual_coils_compress_before_reconstructing_and_key_the_results(knee: Path) -> None:
    """Fewer virtual coils than the volume's 4: the reconstruction of the compressed k-space,
    cached apart from the all-coil one; 4 or more virtual coils are all coils."""
    from lfmri_core.coils import compress_coils

    session = _session()
    session.open(knee)
    session.reconstruct_slice()
    every = session.result("zero-filled")
    assert every is not None and every.virtual_coils is None
    session.update(virtual_coils=4)
    assert session.result("zero-filled") is every and session.missing() == []
    session.update(virtual_coils=2)
    assert session.result("zero-filled") is None
    session.reconstruct_slice()
    two = session.result("zero-filled")
    assert two is not None and two.virtual_coils == 2 and two.timings["compression"] > 0
    with FastMRIVolume(knee) as vol:
        kspace = torch.from_numpy(vol.kspace(session.slice_index))
    mask = session.mask().to_tensor(tuple(kspace.shape[-2:]))
    expected = center_crop(rss(ifft2c(compress_coils(kspace * mask, 2, mask=mask).kspace)), session.recon_shape).numpy()
    assert_close_in_norm(two.image, expected, _fft_rtol(kspace))
    assert relative_error(two.image, every.image) > 100 * _fft_rtol(kspace)  # two virtual coils lose signal
    assert timing_line(session.readouts()["zero-filled"]).startswith("zero-filled: coil compression ")
    session.update(virtual_coils=None)
    assert session.result("zero-filled") is every
    assert "coil compression" not in timing_line(session.readouts()["zero-filled"])


def test_auto_update_reconstructs_on_slice_and_setting_changes(knee: Path) -> None:
    session = _session(auto_update=True)
    session.open(knee)
    assert session.missing() == []
    session.set_slice(0)
    assert session.missing(0) == []
    session.update(mask="equispaced_fraction")
    assert session.missing(0) == [] and session.result("zero-filled", 1) is None
    session.set_auto_update(False)
    session.set_slice(1)
    assert session.missing(1) == list(FAST)


def test_volume_job_reports_progress_and_stores_every_slice(knee: Path) -> None:
    session = _session(settings=ReconSettings(methods=("zero-filled",)))
    session.open(knee)
    reports: list[Progress] = []
    session.events.job_progress.connect(lambda job, p: reports.append(p))
    job = session.reconstruct_volume()
    assert job is not None and job.state is JobState.DONE
    assert all(session.result("zero-filled", i) is not None for i in range(4))
    assert reports[-1].done == reports[-1].total == 4
    assert [p.done for p in reports] == sorted(p.done for p in reports)
    assert session.reconstruct_volume() is None


def test_cancel_stops_a_volume_job_and_keeps_what_finished(knee: Path) -> None:
    started: list[Job[Any]] = []
    session = _session(runner=started.append)  # a runner that only records: the test steps the job
    session.open(knee)
    job = session.reconstruct_volume()
    assert job is started[0] and session.current_job is job
    steps = job.work()
    for _ in range(2):  # "working on slice ...", then the first result
        job.report(next(steps))
    session.cancel()
    with pytest.raises(Exception) as stopped:
        job.report(next(steps))
    job.fail(stopped.value)
    assert job.state is JobState.CANCELLED and session.current_job is None
    stored = [i for i in range(4) for m in FAST if session.result(m, i) is not None]
    assert len(stored) == 1


def test_a_failing_job_becomes_a_notice_and_the_session_goes_on(knee: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = _session()
    session.open(knee)
    seen = _record(session)

    def broken(*args: object, **kwargs: object) -> None:
        raise InputError("weights file is not safetensors")

    monkeypatch.setattr(session_jobs, "run_slices", broken)
    job = session.reconstruct_slice()
    assert job is not None and job.state is JobState.FAILED
    assert ("notice", ("error", f"{job.name} failed: weights file is not safetensors")) in seen
    monkeypatch.undo()
    assert session.reconstruct_slice().state is JobState.DONE


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback on a machine without a GPU")
def test_gpu_request_without_a_gpu_runs_on_the_cpu_with_a_notice(knee: Path) -> None:
    session = _session(settings=ReconSettings(methods=("zero-filled",), device="cuda"))
    session.open(knee)
    seen = _record(session)
    session.reconstruct_slice()
    assert session.result("zero-filled").device == "cpu"
    assert [args for name, args in seen if name == "notice"][0][0] == "warning"


def test_stored_mask_of_an_undersampled_file_is_used(tmp_path: Path) -> None:
    from lfmri_core.io.fastmri_h5 import write_volume
    from lfmri_core.io.ismrmrd_header import EncodingInfo

    rng = np.random.default_rng(0)
    mask = np.zeros(32, dtype=bool)
    mask[::3] = True
    kspace = (rng.standard_normal((2, 3, 32, 32)) + 1j * rng.standard_normal((2, 3, 32, 32))).astype(np.complex64) * mask
    path = tmp_path / "test_file.h5"
    write_volume(path, kspace, encoding=EncodingInfo(encoded_shape=(32, 32), recon_shape=(32, 32)), mask=mask,
                 attrs={"acceleration": 3})
    session = _session(settings=ReconSettings(methods=("zero-filled",)))
    session.open(path)
    assert session.is_undersampled_file and session.reference_volume() is None
    np.testing.assert_array_equal(session.mask().pattern, mask)
    session.reconstruct_slice()
    readout = session.readouts()["zero-filled"]
    assert math.isnan(readout.psnr) and math.isnan(readout.lf_psnr)


# --- boxes -------------------------------------------------------------------------------------
def test_editing_boxes_updates_the_lf_readouts_at_once(knee: Path) -> None:
    session = _session(settings=ReconSettings(methods=("zero-filled",)))
    session.open(knee)
    session.set_slice(0)
    session.reconstruct_slice()
    seen = _record(session)
    ref, image, maxval = session.reference(0), session.result("zero-filled").image, session.maxval
    drawn = LesionBox(7, "drawn", 100, 140, 120, 170)  # slice is taken from the index
    session.set_boxes(0, [drawn])
    assert session.boxes(0) == (LesionBox(0, "drawn", 100, 140, 120, 170),)
    assert ("boxes_changed", 0) in seen and ("readouts_changed", 0) in seen
    readout = session.readouts()["zero-filled"]
    db, ssim_atol = _metric_tolerances(image)
    assert readout.lf_psnr == pytest.approx(lf_psnr_slice(ref, image, session.boxes(0), maxval), rel=0, abs=db)
    assert readout.lf_ssim == pytest.approx(lf_ssim_slice(ref, image, session.boxes(0), maxval), rel=0, abs=ssim_atol + FLOAT32_MAP_ATOL)
    session.set_boxes(0, [LesionBox(0, "drawn", 30, 40, 30, 40)])
    assert session.readouts()["zero-filled"].lf_psnr != readout.lf_psnr
    session.set_boxes(0, [])
    assert session.boxes(0) == () and math.isnan(session.readouts()["zero-filled"].lf_psnr)
    with pytest.raises(InputError, match="outside"):
        session.set_boxes(0, [LesionBox(0, "x", 300, 330, 10, 20)])


def test_annotations_round_trip_through_a_saved_csv(knee: Path, tmp_path: Path) -> None:
    session = _session()
    session.open(knee)
    session.set_boxes(1, [LesionBox(1, "Meniscus Tear", 50, 70, 60, 90)])
    saved = session.save_annotations(tmp_path / "mine.csv")
    other = _session()
    other.open(knee)
    assert other.load_annotations(saved) == len(session.all_boxes())
    assert other.all_boxes() == session.all_boxes() and other.annotations_source == saved


# --- tables ------------------------------------------------------------------------------------
def test_failure_cases_rank_misses_first_and_export_csv(knee: Path, tmp_path: Path) -> None:
    from lfmri_viewer.review import failure_cases

    box = LesionBox(0, "lesion", 10, 20, 10, 20)
    cams = {i: np.zeros((64, 64), dtype=np.float32) for i in range(4)}
    cams[0][15, 15] = 1.0                       # hit, all energy inside
    cams[1][15, 15], cams[1][50, 50] = 0.9, 0.5  # hit, part of the energy outside
    cams[2][40, 15] = 1.0                       # miss by 21 rows
    cams[3][22, 15] = 1.0                       # miss by 3 rows
    boxes = {i: [LesionBox(i, "lesion", 10, 20, 10, 20)] for i in range(4)}
    cases = failure_cases(cams, boxes, method="m")
    assert [c.slice for c in cases] == [2, 3, 1, 0]
    assert [c.hit for c in cases] == [False, False, True, True]
    assert cases[0].peak_distance == 21.0 and cases[1].peak_distance == 3.0  # square roots of perfect squares
    assert cases[2].energy_inside == pytest.approx(0.9 / 1.4, rel=rounding_rtol(cams[2].dtype, terms=cams[2].size))
    assert box.area == 100

    session = _session()
    session.open(knee)
    session.reconstruct_volume()
    assert session.failure_cases("zero-filled") == []  # no classifier: no CAM, nothing to rank
    out = session.export_readouts_csv(tmp_path / "readouts.csv")
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == list(FAST)
    assert float(rows[0]["psnr"]) == pytest.approx(session.readouts()["zero-filled"].psnr)


def test_run_sync_routes_progress_results_and_errors() -> None:
    stored: list[object] = []

    def work(job: Job[int]) -> Any:
        yield Progress(0, 2, "first", payload="a")
        yield Progress(1, 2, "second", payload="b")
        return 42

    job = run_sync(Job("two steps", work, on_complete=stored.append, on_payload=stored.append))
    assert job.state is JobState.DONE and job.result == 42 and stored == ["a", "b", 42]
    assert job.progress.fraction == 0.5

    def bad(job: Job[int]) -> Any:
        yield Progress(0, 1)
        raise ValueError("boom\nsecond line")

    failed = run_sync(Job("bad", bad))
    assert failed.state is JobState.FAILED and failed.error == "ValueError: boom"


def test_shipped_lfmri_gives_cams_and_a_failure_table(knee: Path, tmp_path: Path) -> None:
    from lfmri_core.recon import installed_learned_methods

    if "lfmri" not in installed_learned_methods():
        pytest.fail("the LF-MRI weights ship with the package (lfmri_core/weights)")
    session = SessionController(settings=ReconSettings(methods=("zero-filled", "lfmri")))
    session.open(knee)
    job = session.reconstruct_volume()
    assert job is not None and job.state is JobState.DONE
    lesion_slices = sorted({b.slice for b in session.all_boxes() if not b.is_empty})
    cases = session.failure_cases("lfmri")
    assert sorted(c.slice for c in cases) == lesion_slices
    for case in cases:
        result = session.result("lfmri", case.slice)
        assert result.cam is not None and result.cam.shape == session.recon_shape
        assert 0.0 <= result.cam.min() and result.cam.max() <= 1.0
        assert case.lesion_probability == result.lesion_probability
        readout = session.readouts(case.slice)["lfmri"]
        assert readout.cam_hit == case.hit and readout.cam_energy == case.energy_inside  # the same function
    written = session.export_failure_csv(tmp_path / "failures.csv", "lfmri")
    with written.open(newline="") as f:
        assert [int(r["slice"]) for r in csv.DictReader(f)] == [c.slice for c in cases]
    assert all(case.pointer_hit is None and math.isnan(case.pointer_distance) for case in cases)  # not asked for

    # Net_c's refined pointer, on request: the same rows and order, each scored from the pointer
    # computed here independently on the slice's reconstruction
    from lfmri_core.metrics.cam import pointing_distance
    from lfmri_core.pipeline.classifier import SHIPPED, gated_saliency, load_classifier

    pointed = session.failure_cases("lfmri", pointer=True)
    assert [(c.slice, c.hit, c.peak_distance) for c in pointed] == [(c.slice, c.hit, c.peak_distance) for c in cases]
    net_c = load_classifier(SHIPPED, torch.device("cpu"))
    assert net_c is not None
    for case in pointed:
        image = session.result("lfmri", case.slice).image
        boxes = [b for b in session.boxes(case.slice) if not b.is_empty]
        pointer = gated_saliency(net_c, image[None])[0]
        expected = pointing_distance(pointer, boxes)
        assert case.pointer_distance == expected and case.pointer_hit == (expected == 0.0)
        assert session.pixel_mm is not None  # the knee carries its geometry
        assert case.pointer_distance_mm == pointing_distance(pointer, boxes, session.pixel_mm)
    # kept for the same results: a second table computes nothing
    import lfmri_core.pipeline.classifier as classifier_module

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("recomputed a cached pointer")

    original = classifier_module.gated_saliency
    classifier_module.gated_saliency = refuse  # type: ignore[assignment]
    try:
        assert session.failure_cases("lfmri", pointer=True) == pointed
    finally:
        classifier_module.gated_saliency = original
    written = session.export_failure_csv(tmp_path / "pointed.csv", "lfmri", pointer=True)
    with written.open(newline="") as f:
        assert [r["pointer_hit"] for r in csv.DictReader(f)] == [str(c.pointer_hit) for c in pointed]
    # the cache holds its images weakly: results that leave the result cache take their pointers along
    del image, result  # the test's own references to the last slice's result
    session.cache.clear()
    assert session.failure_cases("lfmri", pointer=True) == [] and session._pointer_cache == {}


def test_chosen_slices_and_other_methods_readouts(knee: Path) -> None:
    session = _session(settings=ReconSettings(methods=("zero-filled",)))
    session.open(knee)
    job = session.reconstruct_slices([3, 1, 3], methods=("zero-filled-sense",))
    assert job is not None and job.name == "reconstruct 2 slices"
    assert [r.slice for r in job.result] == [3, 1]
    assert session.readouts(3) == {}  # the current methods have nothing there yet
    assert list(session.readouts(3, methods=("zero-filled-sense",))) == ["zero-filled-sense"]
    assert session.check_slice(2) == 2
    with pytest.raises(InputError, match="slice 4 does not exist"):
        session.check_slice(4)


def test_a_mask_the_volume_cannot_have_is_refused_at_once(knee: Path) -> None:
    session = _session()
    session.open(knee)
    with pytest.raises(InputError):
        session.update(mask="equispaced", acceleration=2.5)
    assert session.settings.mask == "random" and session.settings.acceleration == 4.0


def test_a_replaced_job_reports_nothing_more(knee: Path) -> None:
    started: list[Job[Any]] = []
    session = _session(runner=started.append)
    session.open(knee)
    seen = _record(session)
    progress: list[object] = []
    session.events.job_progress.connect(lambda job, p: progress.append(job))
    first = session.reconstruct_slice(0)
    second = session.reconstruct_slice(1)
    assert first is not None and first.is_cancelled() and second is session.current_job
    run_sync(first)
    assert first.state is JobState.CANCELLED
    assert progress == [] and not [e for e in seen if e[0] == "job_finished"]
    run_sync(second)
    assert second.state is JobState.DONE and set(progress) == {second}
    assert ("job_finished", second) in seen


def test_coil_maps_that_fail_their_checks_become_one_notice(tmp_path: Path) -> None:
    """7 centre lines: CG-SENSE runs on NLINV maps; the result says so and the session shows the
    finding once as a warning notice (not again for the next slice), with no Python warning
    (warnings are errors in the tests)."""
    from tests.conftest import write_small_knee

    path = write_small_knee(tmp_path / "file_knee.h5")
    session = _session(settings=ReconSettings(methods=("cg-sense",), acceleration=8, center_fraction=0.07))
    session.open(path)
    seen = _record(session)
    session.reconstruct_slice(0)
    session.reconstruct_slice(1)
    first, second = session.result("cg-sense", 0), session.result("cg-sense", 1)
    assert first is not None and second is not None
    assert first.coil_maps == second.coil_maps == "nlinv"
    [line] = first.coil_map_warnings
    assert line.endswith("too small for ESPIRiT's 6 x 6 kernel (it needs at least 10 x 10); using nlinv maps instead")
    notices = [args for name, args in seen if name == "notice"]
    assert notices == [("warning", f"cg-sense, slice 0: {line}")]
    # enough centre lines: ESPIRiT's maps, no notice
    session.update(center_fraction=0.3)
    seen.clear()
    session.reconstruct_slice(0)
    result = session.result("cg-sense", 0)
    assert result is not None and result.coil_maps == "espirit" and result.coil_map_warnings == ()
    assert not [args for name, args in seen if name == "notice"]
