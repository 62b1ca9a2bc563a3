"""Reading and writing fastMRI HDF5, fastMRI+ annotations and BART arrays."""

from lfmri_core.io.annotations import (
    AnnotationSet,
    FileAnnotations,
    ImageLabel,
    LesionBox,
    read_annotations,
    read_file_list,
    write_annotations,
)
from lfmri_core.io.bart_cfl import cfl_to_kspace, read_cfl, write_cfl
from lfmri_core.io.fastmri_h5 import FastMRIVolume, VolumeInfo, write_reconstruction, write_volume
from lfmri_core.io.ismrmrd_header import EncodingInfo, build_header, parse_header

__all__ = [
    "AnnotationSet",
    "EncodingInfo",
    "FastMRIVolume",
    "FileAnnotations",
    "ImageLabel",
    "LesionBox",
    "VolumeInfo",
    "build_header",
    "cfl_to_kspace",
    "parse_header",
    "read_annotations",
    "read_cfl",
    "read_file_list",
    "write_annotations",
    "write_cfl",
    "write_reconstruction",
    "write_volume",
]
