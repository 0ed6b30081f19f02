"""cardiolab: spatio-temporal cardiac imaging (cine MRI, 4D CT) for teaching and analysis.

Conventions shared by every module (README.md repeats them):

* Image arrays are ``(T, Z, Y, X)`` float32: time (cardiac phase), slice (short axis,
  base to apex or apex to base as the source stored it), row, column.
* Spacing is ``(z, y, x)`` in millimetres; frame times are in milliseconds.
* Model tensors are ``(B, C, T, Z, Y, X)``; a 3D model drops T, a 2D model drops T and Z.
* Label maps are uint8: 0 background, 1 LV cavity, 2 LV myocardium, 3 RV cavity.
  Loaders remap other conventions (ACDC stores 1 = RV, 3 = LV).
* Volumes are in ml, mass in g, ejection fraction in %; names carry their unit
  (``lv_edv_ml``, ``lv_ef_pct``, ``frame_times_ms``).
* ``affine`` is the NIfTI one: it maps a voxel index ``(x, y, z)`` to RAS+ world mm.
"""

__version__ = "0.1.0"

# Canonical label values, named once for the whole package.
BACKGROUND, LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY = 0, 1, 2, 3
LABEL_NAMES = {BACKGROUND: "background", LV_CAVITY: "LV cavity", LV_MYOCARDIUM: "LV myocardium", RV_CAVITY: "RV cavity"}
