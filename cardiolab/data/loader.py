"""`load_cine`: one entry point for every cine source.

It looks at what it is given and hands it to the right reader:

=====================================  ===========================================
given                                  read by
=====================================  ===========================================
``*.nii`` / ``*.nii.gz``               `cardiolab.data.nifti.load_nifti`
a folder with ``Info.cfg``             `cardiolab.data.acdc.load_acdc_patient`
a folder of DICOM files                `cardiolab.data.dicom.load_dicom`
a list of DICOM files                  `cardiolab.data.dicom.load_dicom`
one DICOM file (enhanced multi-frame)  `cardiolab.data.dicom.load_dicom`
``*.zip``                              unpacked safely, then any of the above
=====================================  ===========================================
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

from cardiolab.data.errors import CineLoadError
from cardiolab.data.study import CineStudy


def load_cine(source, **options) -> CineStudy:
    """Load a cine study from a path (file, folder or zip) or a list of DICOM files.

    Raises `CineLoadError` (a `ValueError`) naming the file and the problem for
    anything that is not a readable cine study.
    """
    from cardiolab.data import acdc, nifti

    if isinstance(source, (list, tuple)):
        from cardiolab.data import dicom

        if not source:
            raise CineLoadError("<empty list>", "no files given")
        return dicom.load_dicom([Path(p) for p in source], **options)
    path = Path(source)
    if not path.exists():
        raise CineLoadError(path, "no such file or folder")
    if path.is_dir():
        if acdc.is_acdc_folder(path):
            return acdc.load_acdc_patient(path)
        nifti_files = sorted(p for p in path.iterdir() if nifti.is_nifti(p) and not nifti.nifti_stem(p).endswith(nifti.LABEL_SUFFIX))
        if len(nifti_files) == 1:
            return nifti.load_nifti(nifti_files[0], **options)
        from cardiolab.data import dicom

        return dicom.load_dicom(path, **options)
    if nifti.is_nifti(path):
        return nifti.load_nifti(path, **options)
    if path.suffix.lower() == ".zip":
        return _load_zip(path, **options)
    from cardiolab.data import dicom

    if dicom.looks_like_dicom(path):
        return dicom.load_dicom([path], **options)
    raise CineLoadError(path, "not a NIfTI, DICOM, zip or ACDC patient folder")


def _load_zip(path: Path, **options) -> CineStudy:
    """Unpack safely into a temporary folder and load what is inside.

    Errors and warnings name the file inside the zip (``export.zip:EXPORT/IM_0001``),
    never the temporary folder, which means nothing to the user and is gone afterwards.
    """
    from cardiolab.data.archive import extract_zip

    with tempfile.TemporaryDirectory(prefix="cardiolab-zip-") as folder:
        inside = lambda text: str(text).replace(folder + os.sep, f"{path}:").replace(folder, f"{path}:")  # noqa: E731
        root = extract_zip(path, folder)
        # A zip usually wraps everything in one top folder: descend into it.
        entries = [p for p in Path(root).iterdir() if not p.name.startswith((".", "__MACOSX"))]
        while len(entries) == 1 and entries[0].is_dir():
            root = entries[0]
            entries = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                study = load_cine(root, **options)
        except CineLoadError as error:
            raise CineLoadError(inside(error.path), inside(error.problem)) from None
        finally:
            for warning in caught:  # outside the catcher, or each would be caught again
                warnings.warn_explicit(inside(warning.message), warning.category, warning.filename, warning.lineno)
        study.info["source"] = str(path)
        return study
