"""Reference solutions of lesson 2, "Opening studies" (loaded only with ``use_solutions=True``)."""
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom


def nifti_to_tzyx(nifti_array):
    # NIfTI stores (X, Y, Z, T); reversing the axes gives (T, Z, Y, X).
    return np.transpose(nifti_array, (3, 2, 1, 0))


def spacing_from_header(nifti_path):
    x_mm, y_mm, z_mm = nib.load(str(nifti_path)).header.get_zooms()[:3]
    return (float(z_mm), float(y_mm), float(x_mm))


def voxel_volume(spacing):
    z_mm, y_mm, x_mm = spacing
    return z_mm * y_mm * x_mm / 1000.0  # mm^3 -> ml


def slice_spacing_dicom(dicom_folder):
    headers = [pydicom.dcmread(path, stop_before_pixels=True) for path in sorted(Path(dicom_folder).glob("*.dcm"))]
    orientation = np.asarray(headers[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])  # perpendicular to the image plane
    positions = sorted({round(float(np.dot(h.ImagePositionPatient, normal)), 3) for h in headers})
    return float(np.median(np.diff(positions)))
