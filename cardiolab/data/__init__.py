"""Cine data: the `CineStudy` container, loaders, preprocessing and synthetic studies.

Everything that knows about file formats lives here; the rest of cardiolab only sees
`CineStudy` objects (see `cardiolab.data.study` for the data dictionary).
"""
from cardiolab.data.errors import CineLoadError
from cardiolab.data.study import CineStudy
from cardiolab.data.loader import load_cine
from cardiolab.data.nifti import save_nifti, save_study
from cardiolab.data.pseudo_cine import pseudo_cine


__all__ = ["CineLoadError", "CineStudy", "load_cine", "save_nifti", "save_study", "pseudo_cine"]
