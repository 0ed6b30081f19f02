"""Checks of lesson 2, "Opening studies": axis order, spacing, voxel volume, DICOM geometry."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cardiolab.course.core import Wrong, as_array, as_number, close, exercise, how_far, matches_one_of


@exercise("2.2", "nifti_to_tzyx", "NIfTI (X, Y, Z, T) to cardiolab's (T, Z, Y, X)")
def check_nifti_to_tzyx(answer, nifti_array):
    """``answer`` = the raw NIfTI array rearranged to ``(T, Z, Y, X)``."""
    from cardiolab.data.nifti import to_tzyx

    raw = np.asarray(nifti_array)
    value = as_array(answer, "the rearranged array")
    expected = to_tzyx(raw)  # the loaders' own transposition
    if value.shape == expected.shape and np.array_equal(value, expected):
        return f"shape {value.shape} = (frames, slices, rows, columns)."
    if value.shape != expected.shape:
        if value.shape == raw.shape:
            raise Wrong("the array is still (X, Y, Z, T): move the axes with np.transpose.")
        if sorted(value.shape) == sorted(expected.shape):
            raise Wrong(f"shape {value.shape}, expected (T, Z, Y, X) = {expected.shape}: "
                        "some axes are in the wrong place.")
        raise Wrong(f"shape {value.shape}: expected (T, Z, Y, X) = {expected.shape}.")
    if np.array_equal(value, raw.reshape(expected.shape)):
        raise Wrong("reshape keeps the values in memory order, so it scrambles the image: use np.transpose "
                    "to reorder axes.")
    if np.array_equal(value, np.swapaxes(expected, 2, 3)):
        raise Wrong("rows and columns are swapped: NIfTI's first axis is X (columns), its second Y (rows).")
    if np.array_equal(value, np.swapaxes(expected, 0, 1)):
        raise Wrong("frames and slices are swapped: NIfTI's third axis is Z (slices), its fourth T (time).")
    raise Wrong("the shape is right but the voxels are not where they should be: "
                "(X, Y, Z, T) reversed is (T, Z, Y, X).")


@exercise("2.3", "spacing_from_header", "voxel spacing from the NIfTI header")
def check_spacing_from_header(answer, nifti_path):
    """``answer`` = the ``(z, y, x)`` spacing in mm of the NIfTI file at ``nifti_path``."""
    import nibabel as nib

    from cardiolab.data import load_cine

    zooms = [float(z) for z in nib.load(str(nifti_path)).header.get_zooms()]
    expected = np.asarray(load_cine(Path(nifti_path)).spacing, dtype=float)  # (z, y, x), as every loader gives it
    value = as_array(answer, "the spacing").astype(float).ravel()
    if value.shape == (3,) and close(value, expected, rtol=1e-5):
        return f"spacing (z, y, x) = {tuple(round(float(v), 4) for v in value)} mm."
    if value.shape == (4,):
        raise Wrong("the header's 4th zoom is the time between frames (ms), not a spacing: keep (z, y, x).")
    if value.shape != (3,):
        raise Wrong(f"give three numbers (z, y, x) in mm, got {value.shape[0]}.")
    hint = matches_one_of(value, [
        (np.asarray(zooms[:3]), "that is the header's order (x, y, z); cardiolab's spacing is (z, y, x)."),
        (expected / 10, "that is in cm: cardiolab works in mm (the header's unit)."),
    ], rtol=1e-5)
    raise Wrong(hint or "read header.get_zooms(): (x, y, z, t); the spacing is its first three, reversed.")


@exercise("2.4", "voxel_volume", "the volume of one voxel in ml")
def check_voxel_volume(answer, spacing):
    """``answer`` = the volume of one voxel in ml for a ``(z, y, x)`` mm spacing."""
    spacing = [float(s) for s in spacing]
    value = as_number(answer, "the voxel volume")
    expected = float(np.prod(spacing)) / 1000.0  # 1 ml = 1 cm^3 = 1000 mm^3
    if close(value, expected, rtol=1e-4):
        return f"one voxel holds {value:.5f} ml ({value * 1000:.2f} mm^3)."
    hint = matches_one_of(value, [
        (expected * 1000, "that is mm^3: 1 ml = 1000 mm^3, so divide by 1000."),
        (spacing[1] * spacing[2] / 1000, "that is a pixel area times 1 mm: multiply by the slice spacing too."),
        (spacing[1] * spacing[2], "that is a pixel's area in mm^2: a voxel also has the slice spacing as depth."),
        (sum(spacing) / 1000, "multiply the three spacings, do not add them."),
    ], rtol=1e-4)
    raise Wrong(hint or f"a voxel's volume is z x y x x (mm^3) / 1000: {how_far(value, expected)}.")


@exercise("2.1", "slice_spacing_dicom", "slice spacing from DICOM positions")
def check_slice_spacing_dicom(answer, dicom_folder):
    """``answer`` = the distance in mm between neighbouring slice centres of the series."""
    import pydicom

    from cardiolab.data import load_cine

    expected = float(load_cine(Path(dicom_folder)).spacing[0])  # the loader measures it from the positions
    value = as_number(answer, "the slice spacing")
    if close(value, expected, rtol=1e-4, atol=1e-3):
        return f"slice centres are {value:.2f} mm apart."
    files = sorted(Path(dicom_folder).glob("*.dcm"))
    header = pydicom.dcmread(files[0], stop_before_pixels=True)
    thickness = float(getattr(header, "SliceThickness", np.nan))
    n_slices = len({tuple(round(float(v), 3) for v in pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient)
                    for f in files})
    hint = matches_one_of(value, [
        (thickness, "that is SliceThickness, how thick each slab is. Slabs can have gaps between them: the spacing "
                    "is the distance between slice POSITIONS (ImagePositionPatient along the slice normal)."),
        (expected * (n_slices - 1), "that is the distance from the first to the last slice: divide by the number "
                                    "of gaps between slices (slices - 1)."),
        (float(n_slices), "that is the number of slices, not the distance between them."),
    ], rtol=1e-4)
    raise Wrong(hint or f"not the distance between neighbouring slice centres: {how_far(value, expected)}.")
