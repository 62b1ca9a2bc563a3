from __future__ import annotations

import pytest

from lfmri_core.errors import InputError
from lfmri_core.io.ismrmrd_header import EncodingInfo, build_header, parse_header

# The structure of a fastMRI knee header (namespace, nesting, values) trimmed to what matters.
FASTMRI_KNEE_HEADER = """<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <acquisitionSystemInformation><systemFieldStrength_T>2.89362</systemFieldStrength_T>
    <receiverChannels>15</receiverChannels></acquisitionSystemInformation>
  <encoding>
    <encodedSpace><matrixSize><x>640</x><y>372</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>280</x><y>162.75</y><z>4.5</z></fieldOfView_mm></encodedSpace>
    <reconSpace><matrixSize><x>320</x><y>320</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>140</x><y>140</y><z>3</z></fieldOfView_mm></reconSpace>
    <encodingLimits>
      <kspace_encoding_step_1><minimum>0</minimum><maximum>366</maximum><center>184</center></kspace_encoding_step_1>
    </encodingLimits>
  </encoding>
</ismrmrdHeader>"""


def test_parse_fastmri_knee_header() -> None:
    info = parse_header(FASTMRI_KNEE_HEADER)
    assert info.encoded_shape == (640, 372)
    assert info.recon_shape == (320, 320)
    assert info.encoded_fov_mm == (280.0, 162.75, 4.5)
    # padding_left = enc_y // 2 - center, padding_right = padding_left + maximum + 1
    assert info.padding == (372 // 2 - 184, 372 // 2 - 184 + 366 + 1)


def test_build_parse_round_trip() -> None:
    info = EncodingInfo(
        encoded_shape=(640, 368),
        recon_shape=(320, 320),
        encoded_fov_mm=(320.0, 184.0, 3.0),
        recon_fov_mm=(160.0, 160.0, 3.0),
        kspace_center=183,
        kspace_maximum=365,
    )
    assert parse_header(build_header(info, num_coils=15)) == info
    assert info.padding == (1, 367)


def test_for_shape_has_no_padding() -> None:
    assert EncodingInfo.for_shape((320, 320)).padding == (0, 320)


def test_header_errors_are_one_line() -> None:
    with pytest.raises(InputError, match="not valid XML"):
        parse_header("<ismrmrdHeader>")
    with pytest.raises(InputError, match="lacks encoding/encodedSpace/matrixSize/x"):
        parse_header("<ismrmrdHeader xmlns='http://www.ismrm.org/ISMRMRD'><encoding/></ismrmrdHeader>")
