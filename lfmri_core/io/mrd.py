"""ISMRMRD / MRD raw data (``.h5``): Cartesian 2-D multi-slice acquisitions read as k-space.

An MRD file holds a group (``dataset``) with

- ``xml``: the ISMRMRD XML header (encoded and recon matrix, fields of view, encoding limits,
  trajectory), parsed with the ``ismrmrd`` package's schema bindings;
- ``data``: one record per acquired readout line: a header (flags, ``idx`` counters
  ``kspace_encode_step_1``, ``slice``, ``average``, ``repetition``, ..., ``number_of_samples``,
  ``active_channels``, ``center_sample``, ``discard_pre``/``discard_post``), the samples
  ``(channels, samples)`` and an optional trajectory.

:class:`MRDVolume` sorts the imaging lines of encoding space 0 into fastMRI's layout
``(slices, coils, H, W)`` (H the readout, W the phase encode) and offers the interface of
:class:`~lfmri_core.io.fastmri_h5.FastMRIVolume`, so every reader of k-space (``lfmri
info/recon/evaluate``, the napari reader, the Jupyter widget) takes MRD files as they are:

- **Lines**: noise, navigator, phase-correction, dummy, feedback, surface-coil and
  phase-stabilisation acquisitions are skipped, as are parallel-imaging calibration lines that
  are not imaging lines too (``ACQ_IS_PARALLEL_CALIBRATION`` without ``..._AND_IMAGING``: a
  reference scan can have another contrast). ``ACQ_IS_REVERSE`` readouts are flipped back.
- **Placement**: a line lands in column ``W // 2 - center + kspace_encode_step_1`` (``center``:
  ``encodingLimits/kspace_encoding_step_1/center``; the fastMRI convention), its samples
  (after ``discard_pre``/``discard_post``) in rows from ``H // 2 - center_sample``, so partial
  Fourier and asymmetric echoes leave the unacquired part zero where it belongs.
- **Averages and repetitions**: every ``average`` and ``repetition`` of a line is averaged
  (complex mean), or one of each is selected (``average=``, ``repetition=``).
- **Readout oversampling**: when the encoded field of view along the readout is larger than
  the recon field of view (``encodedSpace/fieldOfView_mm/x > reconSpace/fieldOfView_mm/x``,
  the convention of the Gadgetron and of scanner converters), each readout is transformed to
  the image domain (centred orthonormal 1-D IFFT), centre-cropped to
  ``H * recon_fov_x / encoded_fov_x`` rows and transformed back. The image of the result is
  exactly the centre crop of the image of the oversampled k-space (fastMRI's 640 -> 320).

Not supported yet (one :class:`~lfmri_core.errors.InputError` line each): non-Cartesian
trajectories, 3-D encoding (``kspace_encoding_step_2`` or a matrix ``z`` above 1), several
encoding spaces, contrasts, phases or sets in one file.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import h5py
import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.io.budget import check_size
from lfmri_core.io.h5volume import HDF5_ERRORS, HDF5Volume, error_reason
from lfmri_core.io.ismrmrd_header import EncodingInfo
from lfmri_core.io.sniff import mrd_group  # noqa: F401  # re-exported: the MRD layout check

INSTALL_HINT = "pip install 'lfmri-viewer[mrd]' (or: pip install ismrmrd)"
"""How to install the optional reader of MRD files."""

_SKIPPED_FLAGS = (
    "ACQ_IS_NOISE_MEASUREMENT", "ACQ_IS_NAVIGATION_DATA", "ACQ_IS_PHASECORR_DATA", "ACQ_IS_HPFEEDBACK_DATA",
    "ACQ_IS_DUMMYSCAN_DATA", "ACQ_IS_RTFEEDBACK_DATA", "ACQ_IS_SURFACECOILCORRECTIONSCAN_DATA",
    "ACQ_IS_PHASE_STABILIZATION_REFERENCE", "ACQ_IS_PHASE_STABILIZATION",
)
"""Acquisitions that are not k-space lines of the image."""

_HDF5_ERRORS = (*HDF5_ERRORS, ValueError, TypeError)
"""h5py's errors on a damaged file and what the ismrmrd library raises on malformed records."""


def require_ismrmrd(source: str) -> ModuleType:
    """The ``ismrmrd`` package, or an InputError naming ``source`` and how to install it."""
    try:
        import ismrmrd
        import ismrmrd.xsd
    except ImportError:
        raise InputError(f"{source} is ISMRMRD/MRD raw data; reading it needs the ismrmrd package: {INSTALL_HINT}") from None
    return ismrmrd


def _flag(name: str, ismrmrd: ModuleType) -> int:
    return 1 << (getattr(ismrmrd, name) - 1)


def _centered_crop_readout(kspace: np.ndarray, rows: int) -> np.ndarray:
    """Remove readout oversampling: centred orthonormal IFFT along axis -2, keep the central
    ``rows`` (fastMRI's centre-crop start ``(H - rows) // 2``), FFT back."""
    axis = -2
    image = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(kspace, axes=axis), axis=axis, norm="ortho"), axes=axis)
    start = (kspace.shape[axis] - rows) // 2
    image = image[..., start:start + rows, :]
    back = np.fft.fftshift(np.fft.fft(np.fft.ifftshift(image, axes=axis), axis=axis, norm="ortho"), axes=axis)
    return back.astype(np.complex64)


class MRDVolume(HDF5Volume):
    """An ISMRMRD/MRD file opened read-only like a :class:`~lfmri_core.io.fastmri_h5.FastMRIVolume`.

    Opening reads the XML header and the headers of all acquisitions (not their samples) and
    checks everything later reads rely on; :meth:`kspace` then reads the samples of one slice.

    Parameters
    ----------
    path
        The ``.h5`` file.
    average, repetition
        Keep only this ``average`` / ``repetition`` counter; None (default) averages all of
        them (complex mean per line).
    remove_oversampling
        Remove readout oversampling as the header declares it (default True).
    """

    _read_errors = _HDF5_ERRORS

    def __init__(self, path: str | os.PathLike[str], *, average: int | None = None,
                 repetition: int | None = None, remove_oversampling: bool = True) -> None:
        self.path = Path(path)
        where = self.path.name
        self._ismrmrd = require_ismrmrd(where)
        if not self.path.is_file():
            raise InputError(f"{self.path} does not exist" if not self.path.exists() else f"{self.path} is not a file")
        try:
            self._file = h5py.File(self.path, "r")
        except _HDF5_ERRORS as exc:
            raise InputError(f"{self.path} cannot be read as HDF5 ({error_reason(exc)})") from None
        try:
            with self._reading("its structure"):
                self._setup(average, repetition, remove_oversampling)
        except BaseException:
            self._file.close()
            raise

    # -- opening -------------------------------------------------------------------------

    def _header(self, group: h5py.Group) -> Any:
        where = self.path.name
        if "xml" not in group:
            raise InputError(f"{where}: MRD file has no XML header ('{group.name.strip('/')}/xml' is missing)")
        node = group["xml"]
        if not isinstance(node, h5py.Dataset):
            raise InputError(f"{where}: '{node.name.strip('/')}' is a group, not the XML header")
        raw = node[()]
        if isinstance(raw, np.ndarray):
            if raw.size != 1:
                raise InputError(f"{where}: MRD XML header holds {raw.size} entries; expected one text")
            raw = raw.reshape(-1)[0]
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        if not isinstance(raw, str) or not raw.strip():
            raise InputError(f"{where}: MRD XML header is empty or not text")
        self._xml = raw
        try:
            return self._ismrmrd.xsd.CreateFromDocument(raw)
        except Exception as exc:  # noqa: BLE001 - xsdata raises parser errors of several kinds
            text = str(exc).strip().splitlines()
            reason = text[0] if text and text[0] else type(exc).__name__
            raise InputError(f"{where}: MRD XML header is malformed ({reason})") from None

    def _setup(self, average: int | None, repetition: int | None, remove_oversampling: bool) -> None:
        where, ismrmrd = self.path.name, self._ismrmrd
        name = mrd_group(self._file)
        if name is None:
            raise InputError(f"{where} is not an MRD file (no 'dataset' group with 'xml' and 'data')")
        group = self._file[name]
        self._group_name = name
        header = self._header(group)
        if not header.encoding:
            raise InputError(f"{where}: MRD XML header has no encoding")
        encoding = header.encoding[0]
        trajectory = getattr(encoding.trajectory, "value", str(encoding.trajectory))
        if trajectory != "cartesian":
            raise InputError(f"{where}: not supported yet: {trajectory} trajectory (only Cartesian MRD data can be read)")
        enc, rec = encoding.encodedSpace, encoding.reconSpace
        enc_x, enc_y, enc_z = int(enc.matrixSize.x), int(enc.matrixSize.y), int(enc.matrixSize.z or 1)
        if min(enc_x, enc_y) < 1:
            raise InputError(f"{where}: MRD header encoded matrix {enc_x} x {enc_y} is empty")
        limits = encoding.encodingLimits
        step2 = getattr(limits, "kspace_encoding_step_2", None) if limits is not None else None
        if enc_z > 1 or (step2 is not None and step2.maximum > 0):
            raise InputError(f"{where}: not supported yet: 3-D encoding (encoded matrix z = {enc_z}); "
                             "only 2-D multi-slice MRD data can be read")

        if "data" not in group:
            raise InputError(f"{where}: MRD file has no acquisitions ('{name}/data' is missing)")
        data = group["data"]
        if not isinstance(data, h5py.Dataset) or data.dtype.names is None or not {"head", "data"} <= set(data.dtype.names):
            raise InputError(f"{where}: '{name}/data' is not an MRD acquisition table (fields head, traj, data)")
        if data.ndim != 1 or data.shape[0] == 0:
            raise InputError(f"{where}: MRD file has no acquisitions ('{name}/data' is empty)")
        check_size((data.shape[0],), data.dtype["head"], what=f"{where}: the acquisition headers")
        heads = np.asarray(data.fields("head")[()])
        self._data = data

        flags = heads["flags"].astype(np.uint64)
        skipped = np.uint64(sum(_flag(f, ismrmrd) for f in _SKIPPED_FLAGS))
        calibration_only = ((flags & np.uint64(_flag("ACQ_IS_PARALLEL_CALIBRATION", ismrmrd))) != 0) & (
            (flags & np.uint64(_flag("ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING", ismrmrd))) == 0)
        keep = ((flags & skipped) == 0) & ~calibration_only
        if not keep.any():
            raise InputError(f"{where}: MRD file has no imaging acquisitions ({heads.shape[0]} acquisitions, all noise, "
                             "calibration or navigator lines)")
        spaces = np.unique(heads["encoding_space_ref"][keep])
        if spaces.size > 1 or spaces[0] != 0:
            if spaces.size > 1 and len(header.encoding) > 1:
                kinds = sorted({getattr(header.encoding[int(s)].trajectory, "value", "?")
                                for s in spaces if int(s) < len(header.encoding)})
                if len(kinds) > 1:
                    raise InputError(f"{where}: mixed trajectories ({', '.join(kinds)}) in one file; "
                                     "not supported yet: only one Cartesian encoding can be read")
            raise InputError(f"{where}: not supported yet: acquisitions of encoding spaces "
                             f"{', '.join(map(str, spaces.tolist()))} (only one encoding space, number 0)")
        traj_dims = heads["trajectory_dimensions"][keep]
        if (traj_dims > 0).any():
            with_traj = int((traj_dims > 0).sum())
            raise InputError(f"{where}: mixed trajectories: {with_traj} of {traj_dims.size} imaging acquisitions carry "
                             "k-space trajectory points but the header's trajectory is Cartesian")

        idx = heads["idx"]
        for counter, label in (("kspace_encode_step_2", "3-D encoding (kspace_encode_step_2 above 0)"),
                               ("contrast", "several contrasts"), ("phase", "several phases"), ("set", "several sets")):
            values = np.unique(idx[counter][keep])
            if counter == "kspace_encode_step_2":
                if (values > 0).any():
                    raise InputError(f"{where}: not supported yet: {label}; only 2-D multi-slice MRD data can be read")
            elif values.size > 1:
                raise InputError(f"{where}: not supported yet: {label} ({counter} counters "
                                 f"{', '.join(map(str, values.tolist()))}) in one file")
        for counter, chosen in (("average", average), ("repetition", repetition)):
            if chosen is not None:
                present = np.unique(idx[counter][keep])
                if chosen not in present:
                    raise InputError(f"{where}: {counter} {chosen} does not exist (the file has {counter}s "
                                     f"{', '.join(map(str, present.tolist()))})")
                keep &= idx[counter] == chosen

        channels = np.unique(heads["active_channels"][keep])
        samples = heads["number_of_samples"][keep].astype(np.int64) - heads["discard_pre"][keep] - heads["discard_post"][keep]
        if channels.size > 1:
            raise InputError(f"{where}: acquisitions disagree in size: active_channels "
                             f"{', '.join(map(str, channels.tolist()))}")
        distinct = np.unique(samples)
        if distinct.size > 1:
            raise InputError(f"{where}: acquisitions disagree in size: number_of_samples (after discards) "
                             f"{', '.join(map(str, distinct.tolist()))}")
        num_coils, num_samples = int(channels[0]), int(distinct[0])
        if num_coils < 1 or num_samples < 1:
            raise InputError(f"{where}: acquisitions hold no samples ({num_coils} channels x {num_samples} samples)")
        if num_samples > enc_x:
            raise InputError(f"{where}: acquisitions have {num_samples} samples but the encoded matrix x is {enc_x}")

        # Where each kept line lands: the fastMRI formula for columns, the echo centre for rows.
        step1 = limits.kspace_encoding_step_1 if limits is not None else None
        center_y = int(step1.center) if step1 is not None else enc_y // 2
        columns = enc_y // 2 - center_y + idx["kspace_encode_step_1"][keep].astype(np.int64)
        if columns.min() < 0 or columns.max() >= enc_y:
            bad = int(np.flatnonzero(keep)[np.flatnonzero((columns < 0) | (columns >= enc_y))[0]])
            raise InputError(f"{where}: acquisition {bad} (kspace_encode_step_1 {int(idx['kspace_encode_step_1'][bad])}) "
                             f"falls outside the encoded matrix y = {enc_y} (centre {center_y})")
        centers = heads["center_sample"][keep].astype(np.int64) - heads["discard_pre"][keep]
        offsets = np.where(num_samples == enc_x, 0, enc_x // 2 - centers)
        if offsets.min() < 0 or offsets.max() + num_samples > enc_x:
            raise InputError(f"{where}: acquisitions with {num_samples} samples and centre sample "
                             f"{int(centers[np.argmin(offsets) if offsets.min() < 0 else np.argmax(offsets)])} "
                             f"do not fit the encoded matrix x = {enc_x}")

        slices = idx["slice"][keep].astype(np.int64)
        self._slice_numbers = np.unique(slices)
        self._lines = np.flatnonzero(keep)
        self._line_slice = slices
        self._line_column = columns
        self._line_offset = offsets
        self._line_reverse = (flags[keep] & np.uint64(_flag("ACQ_IS_REVERSE", ismrmrd))) != 0
        self._line_discard = heads["discard_pre"][keep].astype(np.int64)
        self._num_samples = num_samples
        self._grid = (num_coils, enc_x, enc_y)

        enc_fov = (float(enc.fieldOfView_mm.x), float(enc.fieldOfView_mm.y), float(enc.fieldOfView_mm.z))
        rec_fov = (float(rec.fieldOfView_mm.x), float(rec.fieldOfView_mm.y), float(rec.fieldOfView_mm.z))
        rows = enc_x
        if remove_oversampling and rec_fov[0] > 0 and enc_fov[0] > rec_fov[0]:
            rows = int(round(enc_x * rec_fov[0] / enc_fov[0]))
            if not 1 <= rows < enc_x:
                raise InputError(f"{where}: readout oversampling {enc_fov[0]:g}/{rec_fov[0]:g} mm leaves {rows} of "
                                 f"{enc_x} samples")
            enc_fov = (rec_fov[0], enc_fov[1], enc_fov[2])
        self._rows = rows
        check_size(self._grid, np.complex64, what=f"{where}: one k-space slice")

        used = np.unique(columns)
        recon = (min(int(rec.matrixSize.x), rows), min(int(rec.matrixSize.y), enc_y))
        geometry = EncodingInfo(
            encoded_shape=(rows, enc_y),
            recon_shape=recon,
            encoded_fov_mm=enc_fov,
            recon_fov_mm=rec_fov,
            # The acquired columns as the fastMRI limits describe them: [W//2 - center, ... + maximum].
            kspace_center=enc_y // 2 - int(used.min()),
            kspace_maximum=int(used.max() - used.min()),
        )
        num_slices = int(self._slice_numbers.size)
        check_size((num_slices, *recon), np.float32, what=f"{where}: the images at the recon size")
        attrs: dict[str, Any] = {"format": "ismrmrd"}
        info = header.measurementInformation
        if info is not None and info.protocolName:
            attrs["acquisition"] = str(info.protocolName)
        subject = header.subjectInformation
        if subject is not None and subject.patientID:
            attrs["patient_id"] = str(subject.patientID)
        # How many averages / repetitions went into each line (1 when one was selected).
        for counter, chosen in (("average", average), ("repetition", repetition)):
            attrs[f"{counter}s"] = int(np.unique(idx[counter][self._lines]).size)
            if chosen is not None:
                attrs[counter] = int(chosen)

        from lfmri_core.io.fastmri_h5 import VolumeInfo

        self.info = VolumeInfo(
            name=self.path.name,
            kspace_shape=(num_slices, num_coils, rows, enc_y),
            multicoil=num_coils > 1,
            encoding=geometry,
            has_header=True,
            targets=(),
            target_shape=None,
            attrs=attrs,
        )

    # -- the volume interface ---------------------------------------------------------------

    @property
    def slice_numbers(self) -> tuple[int, ...]:
        """The MRD ``slice`` counter of each slice of the volume (slices without lines are left out)."""
        return tuple(int(s) for s in self._slice_numbers)

    def kspace(self, index: int) -> np.ndarray:
        """k-space of one slice, ``(coils, H, W)`` complex64: readout rows (oversampling
        removed), phase-encode columns, every line of the slice averaged over its averages and
        repetitions (or the selected ones); unacquired entries are zero."""
        index = self._check_index(index)
        chosen = np.flatnonzero(self._line_slice == self._slice_numbers[index])
        coils, height, width = self._grid
        total = np.zeros((coils, height, width), dtype=np.complex128)
        counts = np.zeros(width, dtype=np.int64)
        with self._reading(f"the acquisitions of slice {index}"):
            records = self._data.fields("data")[self._lines[chosen]]
        ns = self._num_samples
        for k, record in zip(chosen, records, strict=True):
            values = np.asarray(record, dtype=np.float32)
            pre = int(self._line_discard[k])
            full = values.size // 2 // coils if coils else 0
            if values.size != 2 * coils * full or full < pre + ns:
                raise InputError(f"{self.path.name}: acquisition {int(self._lines[k])} holds {values.size} values; "
                                 f"expected {coils} channels x {pre + ns}+ samples")
            line = values.view(np.complex64).reshape(coils, full)[:, pre:pre + ns]
            if self._line_reverse[k]:
                line = line[:, ::-1]
            col, off = int(self._line_column[k]), int(self._line_offset[k])
            total[:, off:off + ns, col] += line
            counts[col] += 1
        acquired = counts > 0
        total[:, :, acquired] /= counts[acquired]
        result = total.astype(np.complex64)
        if self._rows != height:
            result = _centered_crop_readout(result, self._rows)
        if not np.isfinite(result).all():
            raise InputError(f"{self.path.name}: k-space of slice {index} contains NaN or Inf")
        return result

    def target(self, index: int, name: str | None = None) -> None:
        """MRD raw data holds no reference image: always None."""
        return None

    def target_volume(self, name: str | None = None) -> None:
        return None

    @property
    def header_xml(self) -> str:
        """The file's ISMRMRD XML header, verbatim."""
        return self._xml


__all__ = ["INSTALL_HINT", "MRDVolume", "mrd_group", "require_ismrmrd"]
