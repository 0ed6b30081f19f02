"""A synthetic short-axis cine MRI of a beating heart whose volumes are known exactly.

Why a phantom
-------------
Every measure in cardiolab (volumes, EF, mass, wall thickening) and every model can be
checked against a study whose answer is known in advance. `make_phantom` draws a heart
from a seed, beats it over one R-R interval and images it the way a balanced-SSFP cine
stack would: bright blood, dark myocardium, bright fat, dark lungs, a smooth coil bias
field, Rician noise and partial volume. The labels of every frame follow the canonical
map (1 LV cavity, 2 LV myocardium, 3 RV cavity) and ``study.truth`` holds the volumes of
the continuous shapes, computed analytically (or by fine quadrature), never by counting
the labels, so a test that measures the labels is an independent check.

The anatomy (all lengths in mm, heights ``h`` from the base plane towards the apex)
-----------------------------------------------------------------------------------
* LV cavity: half of a prolate super-ellipsoid of revolution cut at its equator (the
  base plane): short semi-axis ``a``, long semi-axis ``c``, radius at height ``h``
  ``r(h) = a (1 - (h / c)^p)^(1/p)`` and volume ``pi a^2 c Gamma(1/p) Gamma(2/p + 1) /
  (p Gamma(3/p + 1))`` (`half_superellipsoid_ml`). ``p = 2`` is the truncated prolate
  ellipsoid; the phantom draws ``p`` in 2.6..3.2, the bullet shape of a real LV whose
  mid-ventricular radius is ~90 % of the basal one. Basal slices are large, apical ones
  small, and the last apical slices hold myocardium only.
* LV myocardium: at end-diastole (ED) the epicardium is the same kind of shape,
  ``wall_mm`` wider and about ``0.7 * wall_mm`` longer (the apex is thinner). Over the
  cycle each slice keeps its myocardial area (incompressible wall with no through-plane
  motion): ``R(h, t)^2 = r(h, t)^2 + R_ED(h)^2 - r_ED(h)^2``. The wall therefore thickens
  as the cavity shrinks and the myocardial volume (mass) is constant exactly.
* LV motion: the cavity volume follows `ejected_fraction` (fast ejection to end-systole
  at 34-45 % of the cycle, rapid filling, diastasis, atrial kick). The long axis
  shortens by ``LONG_AXIS_SHORTENING`` times the relative volume loss; the short axis
  ``a(t)`` is then solved from the volume, so the cavity volume is exact at every frame.
* Regional hypokinesis (optional): inside a sector the endocardium moves only
  ``1 - severity`` of its normal inward excursion, ``r = r_ED - k(phi) (r_ED - r_normal)``
  with ``k = 1 - severity`` in the sector and cosine-tapered edges; by the area rule
  above the sector also thickens less. ``lv_ef_pct`` is the EF of the normally
  contracting ventricle; the sector lowers the true EF, which ``truth`` reports.
* RV cavity: a crescent wrapping the septum, ``R(h, phi, t) < rho < R + W(t) s(h) g(phi)``
  around the LV axis, with a cosine-power angular profile ``g`` and the LV's height
  profile ``s`` (the RV is shorter than the LV). ``W(t)`` is solved from the RV volume
  curve (same timing, its own EF) on a fine (h, phi) quadrature. A thin free wall
  (myocardium, not labelled) and a pericardial fat layer surround the heart.
* Thorax: chest wall (subcutaneous fat, muscle), lungs on both sides, the liver below
  (larger in apical slices, which are more inferior), descending aorta and spine.

Angles ``phi`` are anatomical: 0 anterior, 90 septal, 180 inferior, 270 lateral
(degrees), i.e. with no rotation anterior is up and the RV on the image's left, as in a
conventional short-axis display. AHA mid-ventricular sectors are in `AHA_SECTORS_DEG`.

Imaging
-------
Slice 0 is the most basal slice; the base plane is the top of its slab, so the stack
holds the whole LV (the long axis is fitted to the stack). In-plane partial volume is the
exact area coverage of a locally straight edge (a linear ramp one pixel wide over the
signed distance), which is what infinitely fine in-plane supersampling converges to;
through-plane partial volume averages ``n_subslices`` planes across the slice thickness.
Labels take the voxel centre (the rule a manual contour approximates), so their volume
is a midpoint-rule estimate of the analytic truth. The image is multiplied by a smooth
bias field and made Rician: ``|S + sigma (n1 + i n2)|`` with n1, n2 standard normal.

Choices made where physiology leaves room are constants below or fields of
`PhantomOptions`, each with its unit. Everything is drawn from ``numpy.random.Generator``
seeded by ``seed``; the noise has its own child stream, so changing the noise level (or
any option that is given instead of drawn) leaves the anatomy of a seed unchanged.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from cardiolab import LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY
from cardiolab.data.study import CineStudy

MYOCARDIUM_DENSITY_G_PER_ML = 1.05  # standard value used for LV mass from cine MRI
LONG_AXIS_SHORTENING = 0.2  # relative drop of the long semi-axis per unit relative volume loss
HYPOKINESIS_TAPER_DEG = 15.0  # cosine ramp outside the hypokinetic sector's edges
RV_ANGULAR_POWER = 0.7  # g(phi) = cos(pi u / 2)^p: p < 1 gives a full crescent with tips
EDGE_MARGIN_MM = 6.0  # free space between the heart (with fat) and the image border
QUADRATURE_HEIGHTS = 600  # midpoint-rule heights for the RV quadrature
QUADRATURE_ANGLES = 180  # midpoint-rule angles across the RV span
TISSUE_TEXTURE = 0.06  # RMS relative intensity variation within thorax tissues

# AHA 17-segment model, mid-ventricular ring: 60 degree sectors starting at the anterior
# RV insertion (about 30 degrees here); basal segments 1-6 share these angles.
AHA_SECTORS_DEG = {
    "anterior": (-30.0, 30.0),
    "anteroseptal": (30.0, 90.0),
    "inferoseptal": (90.0, 150.0),
    "inferior": (150.0, 210.0),
    "inferolateral": (210.0, 270.0),
    "anterolateral": (270.0, 330.0),
}

# Tissue codes of `tissue_map` (the labels above are the canonical subset for the heart).
TISSUES = {"air": 0, "lung": 1, "muscle": 2, "fat": 3, "liver": 4, "bone": 5, "vessel": 6,
           "lv_blood": 7, "lv_myocardium": 8, "rv_blood": 9, "rv_wall": 10, "pericardial_fat": 11}
# bSSFP signal relative to blood (1.0); each phantom scales them by +-10 %.
BASE_INTENSITY = {"air": 0.0, "lung": 0.035, "muscle": 0.24, "fat": 0.85, "liver": 0.36, "bone": 0.30,
                  "vessel": 0.95, "blood": 1.0, "myocardium": 0.27}


@dataclass
class PhantomOptions:
    """Everything `make_phantom` can be told; ``None`` means "draw it from the seed"."""

    n_frames: int = 25  # cardiac phases over one R-R interval; frame 0 is ED (R wave)
    n_slices: int = 12  # short-axis slices, 0 = base ... n_slices - 1 = apex
    size: tuple = (128, 128)  # (Y, X) pixels
    # in-plane pitch; None: ~192 mm field of view (1.5 mm +-5 % at 128 px), widened if the heart would not fit
    pixel_mm: float | None = None
    slice_mm: float | None = None  # slice spacing; None: 8 mm, thicker when fewer slices would span < 80 mm
    slice_thickness_mm: float | None = None  # None: equal to the spacing (contiguous slabs)
    lv_ef_pct: float | None = None  # LV ejection fraction, 15..80 %; None: 35..70 %
    lv_edv_ml: float | None = None  # LV end-diastolic volume, 40..400 ml; None: 90..250 ml, dilated when EF is low
    rv_ef_pct: float | None = None  # RV ejection fraction, 15..80 %; None: 40..65 %
    rv_edv_ml: float | None = None  # RV end-diastolic volume, 40..400 ml; None: 80..250 ml
    heart_rate_bpm: float | None = None  # 40..150; None: 55..95
    wall_mm: float | None = None  # ED LV wall thickness, 3..20 mm; None: 8.5..10.5 mm, thinner when EF is low
    hypokinesis: dict | None = None  # {"sector_deg": (start, end), "severity": 0..1}; angles as in the module docstring
    noise_sigma: float = 0.035  # Rician noise: std of each quadrature channel, in units of the blood signal
    bias_strength: float = 0.3  # peak relative deviation of the coil bias field, 0 (flat) .. 0.9
    rotation_deg: float | None = None  # in-plane rotation of the scene, positive clockwise on screen; None: -30..30 degrees
    translation_mm: tuple | None = None  # (y, x) shift of the heart from the image centre; None: -8..8 mm each
    n_subslices: int = 3  # planes averaged across the slice thickness (through-plane partial volume)
    papillary_muscles: bool = True  # two dark papillary muscles inside the LV cavity (labelled cavity, as in ACDC)


@dataclass
class Phantom:
    """One drawn heart and its imaging geometry: every random choice, resolved."""

    options: PhantomOptions  # as given
    seed: int
    n_frames: int
    n_slices: int
    size: tuple  # (Y, X)
    pixel_mm: float
    slice_mm: float
    thickness_mm: float
    heart_rate_bpm: float
    es_frame: int
    ejected: np.ndarray  # (T,) fraction of the stroke volume ejected at each frame (0 at ED, 1 at ES)
    # LV: cavity (a, c) and ED epicardium (A, C), half super-ellipsoids of exponent p
    lv_edv_ml: float
    lv_ef_pct: float  # of the normally contracting ventricle
    wall_mm: float
    profile_exponent: float  # p
    cavity_semi_axes_mm: np.ndarray  # (T, 2): a(t), c(t)
    epicardium_semi_axes_mm: tuple  # (A, C) at ED
    hypokinesis: dict | None  # {"sector_deg": (start, end), "severity": s} or None
    # RV crescent
    rv_edv_ml: float
    rv_ef_pct: float
    rv_length_mm: float
    rv_centre_deg: float
    rv_half_span_deg: float
    rv_width_mm: np.ndarray  # (T,) W(t)
    rv_wall_mm: float
    fat_mm: float
    fat_harmonics: np.ndarray  # (4,): a1, phase1, a2, phase2 of the fat thickness around the heart
    papillary_deg: tuple
    lung_vessels: np.ndarray  # (Z, N, 4): u, v, radius (mm), brightness of small vessels in the lungs
    texture_waves: np.ndarray  # (N, 4): direction (rad), wavelength (mm), phase, phase step per slice
    # pose: image mm = Rot(rotation) (scene mm + heart_offset) + translation; LV axis tilt per mm of height
    rotation_rad: float
    translation_mm: np.ndarray  # (2,) image (x, y)
    heart_offset_mm: np.ndarray  # (2,) scene (u, v)
    tilt: np.ndarray  # (2,) LV-axis shift (u, v) per mm of height
    intensity: dict
    bias_coefficients: np.ndarray  # (6,) on x, y, x^2, y^2, xy, z (normalised image coordinates)
    noise_sigma: float
    bias_strength: float

    # --- the LV -------------------------------------------------------------------
    def lv_radii_mm(self, heights_mm, frame: int):
        """Cavity radius at ED, cavity radius of normal contraction at ``frame`` and the
        ED epicardial radius, each shaped like ``heights_mm`` (0 outside the heart)."""
        h, p = np.asarray(heights_mm, dtype=np.float64), self.profile_exponent
        a_ed, c_ed = self.cavity_semi_axes_mm[0]
        a_now, c_now = self.cavity_semi_axes_mm[frame]
        big_a, big_c = self.epicardium_semi_axes_mm
        return (profile_radius_mm(h, a_ed, c_ed, p), profile_radius_mm(h, a_now, c_now, p),
                profile_radius_mm(h, big_a, big_c, p))

    def motion_weight(self, phi_deg) -> np.ndarray:
        """k(phi): share of the normal inward motion the wall makes at angle phi (1 = normal)."""
        phi_deg = np.asarray(phi_deg, dtype=np.float64)
        if self.hypokinesis is None:
            return np.ones_like(phi_deg)
        start, end = self.hypokinesis["sector_deg"]
        span = (end - start) % 360.0 or 360.0
        into = (phi_deg - start) % 360.0  # degrees past the sector's start
        outside = np.minimum(into - span, 360.0 - into)  # distance to the nearest edge, outside the sector
        taper = 0.5 * (1 + np.cos(np.pi * np.clip(outside / HYPOKINESIS_TAPER_DEG, 0, 1)))  # 1 at the edge, 0 beyond the taper
        window = np.where(into <= span, 1.0, taper)
        return 1.0 - self.hypokinesis["severity"] * window

    # --- the RV and the outer layers ---------------------------------------------------
    def rv_height_profile(self, heights_mm) -> np.ndarray:
        """s(h): 1 at the base, 0 beyond the RV's apex (the LV's taper)."""
        return profile_radius_mm(heights_mm, 1.0, self.rv_length_mm, self.profile_exponent)

    def rv_angular_profile(self, phi_deg) -> np.ndarray:
        """g(phi): 1 at the middle of the crescent, 0 beyond the RV insertion points."""
        u = (np.asarray(phi_deg, dtype=np.float64) - self.rv_centre_deg + 180.0) % 360.0 - 180.0
        u = u / self.rv_half_span_deg
        return np.where(np.abs(u) < 1, np.cos(0.5 * np.pi * np.clip(u, -1, 1)) ** RV_ANGULAR_POWER, 0.0)

    def fat_thickness_mm(self, phi_deg) -> np.ndarray:
        a1, p1, a2, p2 = self.fat_harmonics
        phi = np.radians(np.asarray(phi_deg, dtype=np.float64))
        return np.clip(self.fat_mm * (1 + a1 * np.cos(phi - p1) + a2 * np.cos(2 * phi - p2)), 0.4, None)

    # --- geometry of the stack ---------------------------------------------------------
    @property
    def slice_centres_mm(self) -> np.ndarray:
        return (np.arange(self.n_slices) + 0.5) * self.slice_mm

    def subslice_heights_mm(self) -> np.ndarray:
        """(n_subslices, Z) heights of the planes averaged in each slab."""
        n_sub = self.options.n_subslices
        offsets = ((np.arange(n_sub) + 0.5) / n_sub - 0.5) * self.thickness_mm
        return self.slice_centres_mm[None, :] + offsets[:, None]

    def pixel_scene_coordinates(self):
        """(u, v) scene mm of every pixel centre relative to the LV base centre, (Y, X) each."""
        ny, nx = self.size
        x_mm = (np.arange(nx) - (nx - 1) / 2) * self.pixel_mm - self.translation_mm[0]
        y_mm = (np.arange(ny) - (ny - 1) / 2) * self.pixel_mm - self.translation_mm[1]
        x_mm, y_mm = np.meshgrid(x_mm, y_mm)  # (Y, X) each
        cos, sin = math.cos(self.rotation_rad), math.sin(self.rotation_rad)
        u = cos * x_mm + sin * y_mm - self.heart_offset_mm[0]  # Rot(-rotation) (p - t) - offset
        v = -sin * x_mm + cos * y_mm - self.heart_offset_mm[1]
        return u, v


# --- small analytic pieces ------------------------------------------------------------------
def profile_radius_mm(heights_mm, semi_radius_mm, semi_length_mm, exponent):
    """Radius ``a (1 - (h/c)^p)^(1/p)`` of a half super-ellipsoid at height h below its
    base (its equator); 0 above the base and beyond the apex."""
    h = np.asarray(heights_mm, dtype=np.float64)
    fraction = np.clip(h / semi_length_mm, 0, 1)
    return np.where(h >= 0, semi_radius_mm * (1 - fraction ** exponent) ** (1 / exponent), 0.0)


def half_superellipsoid_ml(semi_radius_mm, semi_length_mm, exponent):
    """Volume (ml) of the shape of `profile_radius_mm`: pi a^2 c int_0^1 (1 - x^p)^(2/p) dx,
    the integral being Gamma(1/p) Gamma(2/p + 1) / (p Gamma(3/p + 1)) (2/3 for p = 2)."""
    p = exponent
    shape_factor = math.gamma(1 / p) * math.gamma(2 / p + 1) / (p * math.gamma(3 / p + 1))
    return np.pi * np.asarray(semi_radius_mm) ** 2 * semi_length_mm * shape_factor / 1000.0


def ejected_fraction(phase, es_phase: float, diastasis_level: float = 0.30, atrial_level: float = 0.22):
    """Share of the stroke volume out of the ventricle at each ``phase`` (0..1 of R-R).

    0 at ED (the R wave), 1 at ES. Ejection follows a cosine on ``(phase/es)^0.8`` (faster
    early); rapid filling takes 22 % of the cycle and refills all but ``diastasis_level``;
    diastasis refills slowly down to ``atrial_level`` by 84 % of the cycle; the atrial kick
    refills the rest. Strictly below 1 everywhere but at ES, and above 0 but at ED, so ED and
    ES are the unique extremes of the volume curve ``V = EDV (1 - EF * ejected_fraction)``.
    """
    phase = np.asarray(phase, dtype=np.float64) % 1.0
    filling_end = es_phase + 0.22
    atrial_start = max(0.84, filling_end + 0.04)
    ejection = 0.5 * (1 - np.cos(np.pi * np.clip(phase / es_phase, 0, 1) ** 0.8))
    rapid = diastasis_level + (1 - diastasis_level) * 0.5 * (1 + np.cos(np.pi * (phase - es_phase) / 0.22))
    slow = diastasis_level + (atrial_level - diastasis_level) * (phase - filling_end) / (atrial_start - filling_end)
    atrial = atrial_level * 0.5 * (1 + np.cos(np.pi * (phase - atrial_start) / (1 - atrial_start)))
    return np.select([phase <= es_phase, phase <= filling_end, phase <= atrial_start], [ejection, rapid, slow], atrial)


# --- drawing a heart -------------------------------------------------------------------------
def make_phantom(seed: int = 0, **options) -> CineStudy:
    """A synthetic short-axis cine study with labels on every frame and its ground truth.

    ``options`` are the fields of `PhantomOptions`, e.g.
    ``make_phantom(3, lv_ef_pct=30, hypokinesis={"sector_deg": AHA_SECTORS_DEG["inferior"], "severity": 0.8})``.
    ``study.truth`` holds LV and RV volumes (ml) at ED and ES, EFs (%), LV mass (g), the
    volume curves, the ED/ES frames and the options used; ``study.info['source'] ==
    'phantom'``. The three steps are public: `sample_phantom` (draw the heart),
    `render` (image it) and `phantom_truth` (measure the shapes).
    """
    phantom = sample_phantom(seed, **options)
    image, labels = render(phantom)
    truth = phantom_truth(phantom)
    return CineStudy(
        image=image,
        spacing=(phantom.slice_mm, phantom.pixel_mm, phantom.pixel_mm),
        frame_times_ms=np.arange(phantom.n_frames) * truth["rr_ms"] / phantom.n_frames,
        labels={t: labels[t] for t in range(phantom.n_frames)},
        ed_frame=0,
        es_frame=phantom.es_frame,
        affine=phantom_affine(phantom),
        info={"source": "phantom", "format": "synthetic", "group": "phantom", "seed": int(seed),
              "heart_rate_bpm": phantom.heart_rate_bpm, "slice_thickness_mm": phantom.thickness_mm,
              "slice_order": "base to apex", "notes": []},
        truth=truth,
    )


def sample_phantom(seed: int = 0, **options) -> Phantom:
    """Draw every random choice of a phantom (validated options override the draws)."""
    known = {f.name for f in fields(PhantomOptions)}
    for name in options:
        if name not in known:
            raise ValueError(f"unknown phantom option {name!r}; options are {sorted(known)}")
    opts = PhantomOptions(**options)
    _validate(opts)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    anatomy_stream, _ = np.random.SeedSequence(int(seed)).spawn(2)
    rng = np.random.default_rng(anatomy_stream)
    # Draw everything, always and in this order, so a given option replaces one draw
    # without shifting the others.
    draw = {
        "lv_ef_pct": rng.uniform(35, 70), "edv_normal": rng.uniform(90, 160), "rv_ef_pct": rng.uniform(40, 65),
        "rv_ratio": rng.uniform(0.95, 1.2), "heart_rate_bpm": rng.uniform(55, 95), "wall_mm": rng.uniform(8.5, 10.5),
        "natural_length": rng.uniform(0.95, 1.05), "coverage": rng.uniform(0.84, 0.95), "exponent": rng.uniform(2.6, 3.2),
        "rv_length": rng.uniform(0.7, 0.85), "rv_centre": rng.uniform(-10, 10), "rv_half_span": rng.uniform(80, 100),
        "rv_wall": rng.uniform(3.0, 4.0), "fat_mm": rng.uniform(1.5, 3.5),
        "fat_harmonics": rng.uniform([0, 0, 0, 0], [0.5, 2 * np.pi, 0.3, 2 * np.pi]),
        "papillary": rng.uniform(-10, 10, size=2), "rotation_deg": rng.uniform(-30, 30),
        "translation_mm": rng.uniform(-8, 8, size=2),
        "tilt_deg": rng.uniform(0, 6), "tilt_direction": rng.uniform(0, 2 * np.pi), "pixel_jitter": rng.uniform(0.95, 1.05),
        "intensity": rng.uniform(0.9, 1.1, size=len(BASE_INTENSITY)), "bias": rng.normal(size=6),
        # 8 plane waves of 8..40 mm wavelength for the thorax texture: direction, wavelength, phase, phase step per slice
        "texture": rng.uniform([0, 8, 0, 0], [np.pi, 40, 2 * np.pi, 2 * np.pi], size=(8, 4)),
        # 12 lung vessels per slice (last: their number depends on n_slices): u, v, radius (mm), brightness
        "lung_vessels": rng.uniform([-150, -40, 0.8, 0.4], [150, 90, 2.2, 0.9], size=(opts.n_slices, 12, 4)),
    }

    def pick(name):  # the option where given, else the draw
        return draw[name] if getattr(opts, name) is None else getattr(opts, name)

    n_frames, n_slices = opts.n_frames, opts.n_slices
    slice_mm = opts.slice_mm or max(8.0, 80.0 / n_slices)
    thickness_mm = opts.slice_thickness_mm or slice_mm
    heart_rate = float(pick("heart_rate_bpm"))
    # ES at 34 % of R-R at 55 bpm to 40 % at 95 bpm (systole shortens less than diastole),
    # placed on a frame so the sampled curve reaches its minimum.
    es_phase = float(np.clip(0.34 + 0.06 * (heart_rate - 55) / 40, 0.30, 0.45))
    es_frame = int(np.clip(round(es_phase * n_frames), 1, n_frames - 1))
    ejected = ejected_fraction(np.arange(n_frames) / n_frames, es_frame / n_frames)

    lv_ef = float(pick("lv_ef_pct"))
    dilation = float(np.clip((50 - lv_ef) / 35, 0, 1))  # 0 for EF >= 50 %, 1 at EF 15 % (failing heart)
    lv_edv = float(opts.lv_edv_ml if opts.lv_edv_ml is not None else np.clip(draw["edv_normal"] * (1 + 0.9 * dilation), 90, 250))
    wall_mm = float(opts.wall_mm if opts.wall_mm is not None else draw["wall_mm"] * (1 - 0.3 * dilation))
    rv_edv = float(opts.rv_edv_ml if opts.rv_edv_ml is not None else np.clip(draw["edv_normal"] * draw["rv_ratio"], 80, 250))

    # LV shape: the epicardium spans most of the stack, as a planned short-axis stack
    # covers base to apex, but at most 1.3 times the length a heart of this volume has
    # (92 mm at 150 ml, scaling with the cube root); the apex wall is thinner; a(t)
    # follows from the volume and the shortened long axis.
    apex_wall_mm = 0.7 * wall_mm
    natural_length_mm = 92.0 * (lv_edv / 150.0) ** (1 / 3) * draw["natural_length"]
    epicardium_length_mm = min(draw["coverage"] * n_slices * slice_mm, 1.3 * natural_length_mm)
    cavity_length_mm = epicardium_length_mm - apex_wall_mm
    if cavity_length_mm < 10:
        raise ValueError(f"phantom options n_slices={n_slices} x slice_mm={slice_mm:g} span {n_slices * slice_mm:.0f} mm, "
                         "too short a stack for a heart")
    exponent = float(draw["exponent"])
    volume_ml = lv_edv * (1 - lv_ef / 100 * ejected)  # (T,) normal contraction
    c_t = cavity_length_mm * (1 - LONG_AXIS_SHORTENING * (1 - volume_ml / lv_edv))
    # a(t) <= a(ED) because c shrinks by less than the volume does: the shapes are nested.
    a_t = np.sqrt(volume_ml / half_superellipsoid_ml(1.0, c_t, exponent))
    epicardium = (float(a_t[0] + wall_mm), float(epicardium_length_mm))

    hypokinesis = None
    if opts.hypokinesis is not None:
        start, end = (float(x) for x in opts.hypokinesis["sector_deg"])
        hypokinesis = {"sector_deg": (start, end), "severity": float(opts.hypokinesis["severity"])}

    rotation = math.radians(float(pick("rotation_deg")))
    tilt_direction = np.array([math.cos(draw["tilt_direction"]), math.sin(draw["tilt_direction"])])
    tilt = math.tan(math.radians(draw["tilt_deg"])) * tilt_direction  # LV axis shift per mm of height
    phantom = Phantom(
        options=opts, seed=int(seed), n_frames=n_frames, n_slices=n_slices, size=tuple(int(s) for s in opts.size),
        pixel_mm=0.0, slice_mm=float(slice_mm), thickness_mm=float(thickness_mm), heart_rate_bpm=heart_rate,
        es_frame=es_frame, ejected=ejected, lv_edv_ml=lv_edv, lv_ef_pct=lv_ef, wall_mm=wall_mm,
        profile_exponent=exponent, cavity_semi_axes_mm=np.stack([a_t, c_t], axis=1), epicardium_semi_axes_mm=epicardium,
        hypokinesis=hypokinesis, rv_edv_ml=rv_edv, rv_ef_pct=float(pick("rv_ef_pct")),
        rv_length_mm=float(draw["rv_length"] * epicardium_length_mm), rv_centre_deg=90.0 + draw["rv_centre"],
        rv_half_span_deg=float(draw["rv_half_span"]), rv_width_mm=np.zeros(n_frames), rv_wall_mm=float(draw["rv_wall"]),
        fat_mm=float(draw["fat_mm"]), fat_harmonics=draw["fat_harmonics"],
        papillary_deg=(245.0 + draw["papillary"][0], 160.0 + draw["papillary"][1]), lung_vessels=draw["lung_vessels"],
        texture_waves=draw["texture"],
        rotation_rad=rotation, translation_mm=np.asarray(pick("translation_mm"), dtype=np.float64)[::-1].copy(),
        heart_offset_mm=np.zeros(2), tilt=tilt,
        intensity={name: base * scale for (name, base), scale in zip(BASE_INTENSITY.items(), draw["intensity"])},
        bias_coefficients=draw["bias"], noise_sigma=float(opts.noise_sigma), bias_strength=float(opts.bias_strength),
    )
    phantom.intensity["blood"] = 1.0  # the unit of every other intensity and of noise_sigma
    phantom.rv_width_mm = _solve_rv_width_mm(phantom)
    _place_heart(phantom, draw["pixel_jitter"])
    return phantom


def _validate(opts: PhantomOptions) -> None:
    def need(ok, name, value, what):
        if not ok:
            raise ValueError(f"phantom option {name}={value!r}: {what}")

    def number(value):
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and np.isfinite(value)

    for name, low in (("n_frames", 2), ("n_slices", 1), ("n_subslices", 1)):
        value = getattr(opts, name)
        is_integer = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        need(is_integer and value >= low, name, value, f"must be an integer >= {low}")
    size = opts.size
    need(isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, (int, np.integer)) and s >= 16 for s in size),
         "size", size, "must be two integers (Y, X), each >= 16")
    ranges = {"pixel_mm": (0.1, 10.0), "slice_mm": (0.5, 100.0), "slice_thickness_mm": (0.5, 100.0), "lv_ef_pct": (15, 80),
              "rv_ef_pct": (15, 80), "lv_edv_ml": (40, 400), "rv_edv_ml": (40, 400), "heart_rate_bpm": (40, 150),
              "wall_mm": (3, 20), "rotation_deg": (-360, 360)}
    for name, (low, high) in ranges.items():
        value = getattr(opts, name)
        if value is not None:
            need(number(value) and low <= value <= high, name, value, f"must be a number in [{low}, {high}]")
    need(number(opts.noise_sigma) and 0 <= opts.noise_sigma <= 1, "noise_sigma", opts.noise_sigma, "must be in [0, 1]")
    need(number(opts.bias_strength) and 0 <= opts.bias_strength <= 0.9, "bias_strength", opts.bias_strength,
         "must be in [0, 0.9]")
    if opts.translation_mm is not None:
        t = opts.translation_mm
        need(isinstance(t, (tuple, list, np.ndarray)) and len(t) == 2 and all(number(x) and abs(x) <= 50 for x in t),
             "translation_mm", t, "must be two numbers (y, x) within +-50 mm")
    need(isinstance(opts.papillary_muscles, (bool, np.bool_)), "papillary_muscles", opts.papillary_muscles,
         "must be True or False")
    hypo = opts.hypokinesis
    if hypo is not None:
        need(isinstance(hypo, dict) and set(hypo) == {"sector_deg", "severity"}, "hypokinesis", hypo,
             'must be None or {"sector_deg": (start, end), "severity": 0..1}')
        sector = hypo["sector_deg"]
        need(isinstance(sector, (tuple, list)) and len(sector) == 2 and all(number(x) for x in sector),
             "hypokinesis", hypo, "sector_deg must be two angles in degrees")
        need(number(hypo["severity"]) and 0 <= hypo["severity"] <= 1, "hypokinesis", hypo, "severity must be in [0, 1]")


def _solve_rv_width_mm(phantom: Phantom) -> np.ndarray:
    """W(t) such that the crescent holds the RV volume curve.

    V_RV = int dh int dphi (R b + b^2 / 2) with b = W s(h) g(phi), i.e.
    V = W P(t) + W^2 Q / 2 with P = int s g R and Q = int s^2 g^2; solved for W >= 0.
    """
    heights, angles, dh, dphi = _rv_quadrature_grid(phantom)
    s = phantom.rv_height_profile(heights)[:, None]  # (H, 1)
    g = phantom.rv_angular_profile(angles)[None, :]  # (1, A)
    k = phantom.motion_weight(angles)[None, :]
    q = float(np.sum(s ** 2 * g ** 2) * dh * dphi)
    target_mm3 = 1000.0 * phantom.rv_edv_ml * (1 - phantom.rv_ef_pct / 100 * phantom.ejected)
    widths = np.empty(phantom.n_frames)
    for frame in range(phantom.n_frames):
        epicardium = _epicardial_radius_mm(phantom, heights[:, None], frame, k)  # (H, A)
        p = float(np.sum(s * g * epicardium) * dh * dphi)
        widths[frame] = (-p + math.sqrt(p * p + 2 * q * target_mm3[frame])) / q
    return widths


def _rv_quadrature_grid(phantom: Phantom):
    dh = phantom.rv_length_mm / QUADRATURE_HEIGHTS
    heights = (np.arange(QUADRATURE_HEIGHTS) + 0.5) * dh
    span = 2 * phantom.rv_half_span_deg
    dphi_deg = span / QUADRATURE_ANGLES
    angles = phantom.rv_centre_deg - phantom.rv_half_span_deg + (np.arange(QUADRATURE_ANGLES) + 0.5) * dphi_deg
    return heights, angles, dh, math.radians(dphi_deg)


def _epicardial_radius_mm(phantom: Phantom, heights, frame, motion_weight):
    """R = sqrt(r^2 + R_ED^2 - r_ED^2) with r = r_ED - k (r_ED - r_normal): per-slice area conservation."""
    r_ed, r_now, epi_ed = phantom.lv_radii_mm(heights, frame)
    endocardium = r_ed - motion_weight * (r_ed - r_now)
    return np.sqrt(endocardium ** 2 + epi_ed ** 2 - r_ed ** 2)


def _place_heart(phantom: Phantom, pixel_jitter: float) -> None:
    """Centre the heart's ED outline (with fat) and choose a pixel size it fits in."""
    heights = np.linspace(0, phantom.epicardium_semi_axes_mm[1], 64)
    angles = np.arange(0, 360, 2.0)
    _, _, epi_ed = phantom.lv_radii_mm(heights, 0)
    rv_mm = phantom.rv_width_mm.max() * phantom.rv_height_profile(heights)[:, None] * phantom.rv_angular_profile(angles)[None]
    outline = (epi_ed[:, None] + rv_mm
               + phantom.rv_wall_mm + phantom.fat_thickness_mm(angles)[None])  # (H, A) radius around the LV axis
    phi = np.radians(angles)
    u = -np.sin(phi)[None] * outline + phantom.tilt[0] * heights[:, None]
    v = -np.cos(phi)[None] * outline + phantom.tilt[1] * heights[:, None]
    phantom.heart_offset_mm = -0.5 * np.array([u.min() + u.max(), v.min() + v.max()])
    cos, sin = math.cos(phantom.rotation_rad), math.sin(phantom.rotation_rad)
    su, sv = u + phantom.heart_offset_mm[0], v + phantom.heart_offset_mm[1]
    x = cos * su - sin * sv + phantom.translation_mm[0]
    y = sin * su + cos * sv + phantom.translation_mm[1]
    ny, nx = phantom.size
    needed_mm = max((np.abs(x).max() + EDGE_MARGIN_MM) / (nx / 2), (np.abs(y).max() + EDGE_MARGIN_MM) / (ny / 2))
    if phantom.options.pixel_mm is None:
        phantom.pixel_mm = float(max(1.5 * pixel_jitter * 128 / max(nx, ny), needed_mm))
    elif phantom.options.pixel_mm < needed_mm:
        raise ValueError(f"phantom option pixel_mm={phantom.options.pixel_mm}: the heart does not fit in size={phantom.size} "
                         f"(needs pixel_mm >= {needed_mm:.2f}, a larger size, or smaller lv_edv_ml / rv_edv_ml)")
    else:
        phantom.pixel_mm = float(phantom.options.pixel_mm)


# --- imaging ---------------------------------------------------------------------------------
@dataclass
class _PixelGrid:
    """Per-voxel quantities that do not change over the cycle, (Z, Y, X) float32 each."""

    u: np.ndarray  # scene mm from the LV axis (tilt included)
    v: np.ndarray
    rho_px: np.ndarray  # distance from the LV axis in pixels, minus 0.5 (coverage ramp offset)
    rho_mm: np.ndarray
    motion_weight: np.ndarray  # k(phi)
    rv_profile: np.ndarray  # g(phi)
    rv_wall_profile: np.ndarray  # where the RV free wall runs
    fat_profile: np.ndarray  # fat thickness, mm
    background: np.ndarray  # thorax intensity
    background_tissue: np.ndarray  # thorax tissue codes (uint8)


def _pixel_grid(phantom: Phantom) -> _PixelGrid:
    u0, v0 = phantom.pixel_scene_coordinates()  # (Y, X)
    centres = phantom.slice_centres_mm[:, None, None]
    u = (u0[None] - phantom.tilt[0] * centres).astype(np.float32)  # (Z, Y, X)
    v = (v0[None] - phantom.tilt[1] * centres).astype(np.float32)
    rho = np.hypot(u, v)
    phi_deg = np.degrees(np.arctan2(-u, -v)) % 360.0  # direction(phi) = (-sin phi, -cos phi)
    rv_profile = phantom.rv_angular_profile(phi_deg)
    background, tissue = _thorax(phantom, u0, v0)
    return _PixelGrid(u=u, v=v, rho_px=_f32(rho / phantom.pixel_mm - 0.5), rho_mm=_f32(rho),
                      motion_weight=_f32(phantom.motion_weight(phi_deg)), rv_profile=_f32(rv_profile),
                      rv_wall_profile=_f32(np.clip(4 * rv_profile, 0, 1)), fat_profile=_f32(phantom.fat_thickness_mm(phi_deg)),
                      background=background, background_tissue=tissue)


def _f32(array) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


def _thorax(phantom: Phantom, u, v):
    """Static thorax around the heart, painted back to front; (Z, Y, X) intensity and tissue codes.

    Scene mm, u to the patient's left (image right), v posterior/inferior (image down),
    origin on the LV axis at the base. The heart lies against the anterior chest wall,
    lungs fill the rest of the thoracic cavity (with a few bright vessels), and apical
    slices, being more inferior, cut more of the liver under the diaphragm.
    """
    level = phantom.intensity
    u, v = u.astype(np.float32), v.astype(np.float32)
    plane = np.zeros(u.shape, np.float32)
    codes = np.zeros(u.shape, np.uint8)
    for layer in [  # (tissue, intensity, centre u, centre v, semi-axis u, semi-axis v), mm; the same in every slice
        ("fat", level["fat"], 0, 50, 185, 111),  # body outline: subcutaneous fat
        ("muscle", level["muscle"], 0, 50, 173, 100),  # chest wall
        ("lung", level["lung"], 0, 50, 158, 88),  # thoracic cavity
        ("muscle", level["muscle"], 0, 124, 50, 28),  # paraspinal muscles
        ("bone", level["bone"], 0, 108, 18, 16),  # vertebral body
        ("vessel", level["vessel"], 32, 88, 11, 11),  # descending aorta
    ]:
        _paint_ellipse(plane, codes, u, v, phantom.pixel_mm, *layer)
    shape = (phantom.n_slices,) + u.shape
    intensity = np.empty(shape, np.float32)
    tissue = np.empty(shape, np.uint8)
    for z, h in enumerate(phantom.slice_centres_mm):
        plane_z, codes_z = plane.copy(), codes.copy()
        _paint_ellipse(plane_z, codes_z, u, v, phantom.pixel_mm, "liver", level["liver"], -60, 100 - 0.35 * h, 100, 55 + 0.1 * h)
        for cu, cv, radius, brightness in phantom.lung_vessels[z]:
            window = _pixel_window(phantom, cu, cv, radius)
            _paint_ellipse(plane_z[window], codes_z[window], u[window], v[window], phantom.pixel_mm, "vessel",
                           level["vessel"] * brightness, cu, cv, radius, radius, only_in="lung")
        intensity[z] = plane_z * (1 + TISSUE_TEXTURE * _texture(phantom, u, v, z))
        tissue[z] = codes_z
    return intensity, tissue


def _paint_ellipse(plane, codes, u, v, pixel_mm, name, value, cu, cv, au, av, only_in=None):
    """Paint one tissue ellipse over ``plane`` (in place) with partial-volume edges."""
    q = np.hypot((u - cu) / au, (v - cv) / av)
    distance_px = (q - 1) * (math.sqrt(au * av) / pixel_mm)  # ~signed distance to the outline
    cover = np.clip(0.5 - distance_px, 0, 1)
    if only_in is not None:
        cover *= codes == TISSUES[only_in]
    plane += (np.float32(value) - plane) * cover
    codes[cover > 0.5] = TISSUES[name]


def _pixel_window(phantom: Phantom, cu, cv, radius_mm):
    """Index window (rows, columns) of the pixels within radius + 2 px of scene point (cu, cv)."""
    su, sv = cu + phantom.heart_offset_mm[0], cv + phantom.heart_offset_mm[1]
    cos, sin = math.cos(phantom.rotation_rad), math.sin(phantom.rotation_rad)
    ny, nx = phantom.size
    x_px = (cos * su - sin * sv + phantom.translation_mm[0]) / phantom.pixel_mm + (nx - 1) / 2
    y_px = (sin * su + cos * sv + phantom.translation_mm[1]) / phantom.pixel_mm + (ny - 1) / 2
    reach = radius_mm / phantom.pixel_mm + 2
    rows = slice(int(np.clip(y_px - reach, 0, ny)), int(np.clip(y_px + reach + 1, 0, ny)))
    columns = slice(int(np.clip(x_px - reach, 0, nx)), int(np.clip(x_px + reach + 1, 0, nx)))
    return rows, columns


def _texture(phantom: Phantom, u, v, z: int) -> np.ndarray:
    """Smooth random field of unit RMS: a sum of plane waves (tissue heterogeneity)."""
    field = np.zeros(u.shape, np.float32)
    for direction, wavelength, phase, step in phantom.texture_waves:
        along = np.float32(math.cos(direction)) * u + np.float32(math.sin(direction)) * v
        field += np.cos(along * np.float32(2 * np.pi / wavelength) + np.float32(phase + z * step))
    return field * np.float32(math.sqrt(2 / len(phantom.texture_waves)))


def _boundaries_mm(phantom: Phantom, grid: _PixelGrid, frame: int, heights):
    """Nested outlines around the LV axis in the planes at ``heights`` (Z,), mm:
    endocardium <= epicardium <= RV outer <= RV wall <= pericardial fat. Scalars per
    slice broadcast as (Z, 1, 1) where the outline is round."""
    r_ed, r_now, epi_ed = (x.astype(np.float32)[:, None, None] for x in phantom.lv_radii_mm(heights, frame))
    if phantom.hypokinesis is None:
        endocardium = r_now
    else:
        endocardium = r_ed - grid.motion_weight * (r_ed - r_now)
    epicardium = np.sqrt(endocardium * endocardium + (epi_ed * epi_ed - r_ed * r_ed))
    rv_scale = (phantom.rv_width_mm[frame] * phantom.rv_height_profile(heights)).astype(np.float32)[:, None, None]
    rv_outer = epicardium + rv_scale * grid.rv_profile
    rv_present = np.clip(5 * phantom.rv_height_profile(heights), 0, 1).astype(np.float32)[:, None, None]
    rv_wall = rv_outer + (phantom.rv_wall_mm * rv_present) * grid.rv_wall_profile
    heart_present = np.clip(epi_ed / 10.0, 0, 1)  # the fat layer fades out past the apex
    fat = rv_wall + heart_present * grid.fat_profile
    return endocardium, epicardium, rv_outer, rv_wall, fat


def _coverage(boundary_mm, grid: _PixelGrid, inverse_pixel: float):
    """Fraction of each pixel inside ``rho < boundary``: a one-pixel linear ramp."""
    cover = boundary_mm * np.float32(inverse_pixel) - grid.rho_px
    return np.clip(cover, 0, 1, out=cover)


def _labels(phantom: Phantom, grid: _PixelGrid, frame: int) -> np.ndarray:
    """Canonical labels of one frame from the voxel centres, (Z, Y, X) uint8."""
    endocardium, epicardium, rv_outer, _, _ = _boundaries_mm(phantom, grid, frame, phantom.slice_centres_mm)
    rho = grid.rho_mm
    # RV everywhere inside the RV outline, overwritten by myocardium, then cavity (nested).
    labels = np.where(rho < rv_outer, np.uint8(RV_CAVITY), np.uint8(0))
    labels[rho < epicardium] = LV_MYOCARDIUM
    labels[rho < endocardium] = LV_CAVITY
    return labels


def _papillary_muscles(phantom: Phantom, grid: _PixelGrid, frame: int, inverse_pixel: float):
    """Coverage (Z, Y, X) of two round papillary muscles in the mid/apical cavity."""
    heights = phantom.slice_centres_mm
    _, r_now, _ = phantom.lv_radii_mm(heights, frame)
    along = heights / phantom.cavity_semi_axes_mm[0, 1]
    present = np.clip(np.minimum(along - 0.25, 0.85 - along) / 0.1, 0, 1)  # mid-cavity, fading at both ends
    radius_mm = np.clip(0.22 * r_now, 1.5, 4.5) * present
    cover = np.zeros_like(grid.rho_px)
    slices = np.nonzero(radius_mm > 0)[0]  # only the slices that hold them
    radius = radius_mm[slices].astype(np.float32)[:, None, None]
    for angle in phantom.papillary_deg:
        phi = math.radians(angle)
        centre_u = (-math.sin(phi) * 0.75 * r_now[slices]).astype(np.float32)[:, None, None]
        centre_v = (-math.cos(phi) * 0.75 * r_now[slices]).astype(np.float32)[:, None, None]
        du, dv = grid.u[slices] - centre_u, grid.v[slices] - centre_v
        distance = np.sqrt(du * du + dv * dv)
        cover[slices] += np.clip((radius - distance) * np.float32(inverse_pixel) + 0.5, 0, 1)
    return cover


def render(phantom: Phantom) -> tuple[np.ndarray, np.ndarray]:
    """Image ``(T, Z, Y, X)`` float32 and labels ``(T, Z, Y, X)`` uint8 of a phantom."""
    grid = _pixel_grid(phantom)
    level = phantom.intensity
    blood, myocardium, fat = np.float32(level["blood"]), np.float32(level["myocardium"]), np.float32(level["fat"])
    inverse_pixel = 1.0 / phantom.pixel_mm
    planes = phantom.subslice_heights_mm()  # (S, Z)
    shape = (phantom.n_frames,) + grid.rho_px.shape
    image = np.empty(shape, np.float32)
    labels = np.empty(shape, np.uint8)
    fat_over_background = fat - grid.background
    def cover(boundary_mm):
        return _coverage(boundary_mm, grid, inverse_pixel)

    for frame in range(phantom.n_frames):
        heart = np.zeros(grid.rho_px.shape, np.float32)
        for heights in planes:
            endo, epi, rv_outer, rv_wall, fat_outer = _boundaries_mm(phantom, grid, frame, heights)
            # Nested layers, outside in: thorax | fat | RV wall | RV blood | LV wall | LV blood.
            heart += fat_over_background * cover(fat_outer)
            heart += (myocardium - fat) * cover(rv_wall)
            heart += (blood - myocardium) * cover(rv_outer)
            heart += (myocardium - blood) * cover(epi)
            heart += (blood - myocardium) * cover(endo)
        heart *= np.float32(1.0 / len(planes))
        if phantom.options.papillary_muscles:
            heart += (myocardium - blood) * _papillary_muscles(phantom, grid, frame, inverse_pixel)
        image[frame] = grid.background + heart
        labels[frame] = _labels(phantom, grid, frame)
    image *= _bias_field(phantom)[None]
    noise_stream = np.random.SeedSequence(phantom.seed).spawn(2)[1]
    return add_rician_noise(image, phantom.noise_sigma, np.random.default_rng(noise_stream)), labels


def _bias_field(phantom: Phantom) -> np.ndarray:
    """Smooth multiplicative coil sensitivity, 1 +- bias_strength, (Z, Y, X) float32."""
    ny, nx = phantom.size
    z = np.linspace(-1, 1, phantom.n_slices)[:, None, None]
    y = np.linspace(-1, 1, ny)[None, :, None]
    x = np.linspace(-1, 1, nx)[None, None, :]
    c = phantom.bias_coefficients
    shape = c[0] * x + c[1] * y + c[2] * x * x + c[3] * y * y + c[4] * x * y + 0.5 * c[5] * z
    shape = shape / max(np.abs(shape).max(), 1e-9)
    return (1 + phantom.bias_strength * shape).astype(np.float32)


def add_rician_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the image plus complex Gaussian noise: ``|S + sigma (n1 + i n2)|``.

    The result is Rician: never negative, and where ``S = 0`` it is Rayleigh with mean
    ``sigma * sqrt(pi / 2)``. The complex noise is drawn as a phasor (Box-Muller): length
    ``L = sigma sqrt(-2 ln U1)`` (Rayleigh) at a uniform phase ``theta = 2 pi U2``, which
    has exactly independent N(0, sigma^2) real and imaginary parts; then
    ``|S + L e^(i theta)|^2 = S^2 + 2 S L cos(theta) + L^2``. ``sigma = 0`` returns the
    image unchanged. Works in place, frame by frame, in float32.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return image
    image = np.asarray(image, dtype=np.float32)
    for block in image.reshape(image.shape[0], -1) if image.ndim > 1 else image[None]:
        squared_length = rng.random(block.shape, dtype=np.float32)
        np.subtract(np.float32(1), squared_length, out=squared_length)  # U1 in (0, 1]: the log stays finite
        np.log(squared_length, out=squared_length)
        squared_length *= np.float32(-2 * sigma * sigma)  # L^2
        cross = rng.random(block.shape, dtype=np.float32)
        cross *= np.float32(2 * np.pi)
        np.cos(cross, out=cross)  # cos(theta)
        cross *= np.sqrt(squared_length)
        cross *= block
        cross *= np.float32(2)  # 2 S L cos(theta)
        squared_length += cross
        squared_length += block * block
        np.sqrt(np.maximum(squared_length, 0, out=squared_length), out=block)  # rounding can dip below 0 by an ulp
    return image


def tissue_map(phantom: Phantom, frame: int = 0) -> np.ndarray:
    """Tissue codes (`TISSUES`) of one frame at the voxel centres, (Z, Y, X) uint8."""
    grid = _pixel_grid(phantom)
    endo, epi, rv_outer, rv_wall, fat_outer = _boundaries_mm(phantom, grid, frame, phantom.slice_centres_mm)
    tissue = grid.background_tissue.copy()
    for boundary, name in ((fat_outer, "pericardial_fat"), (rv_wall, "rv_wall"), (rv_outer, "rv_blood"),
                           (epi, "lv_myocardium"), (endo, "lv_blood")):
        tissue[grid.rho_mm < boundary] = TISSUES[name]
    return tissue


def anatomical_angle_deg(phantom: Phantom) -> np.ndarray:
    """Anatomical angle (0 anterior, 90 septal, 180 inferior, 270 lateral) of every voxel, (Z, Y, X)."""
    grid = _pixel_grid(phantom)
    return np.degrees(np.arctan2(-grid.u, -grid.v)) % 360.0


# --- ground truth -------------------------------------------------------------------------
def lv_cavity_volumes_ml(phantom: Phantom) -> np.ndarray:
    """LV cavity volume at every frame (ml), from the shape, not from voxels.

    Normal contraction: the prescribed curve (`half_superellipsoid_ml`, exact). With
    hypokinesis the slice area is int r^2/2 dphi with r = r_ED - k m, m = r_ED - r_normal:
    pi r_ED^2 - K1 r_ED m + K2 m^2 / 2 (K1 = int k, K2 = int k^2 over phi, by fine
    quadrature), integrated over height with int r_ED^2 and int r_normal^2 exact and
    int r_ED r_normal by a 20 000-point midpoint rule.
    """
    a_t, c_t = phantom.cavity_semi_axes_mm.T
    normal_ml = half_superellipsoid_ml(a_t, c_t, phantom.profile_exponent)
    if phantom.hypokinesis is None:
        return normal_ml
    phi = (np.arange(36000) + 0.5) * (2 * np.pi / 36000)
    k = phantom.motion_weight(np.degrees(phi))
    k1, k2 = k.sum() * (2 * np.pi / 36000), (k * k).sum() * (2 * np.pi / 36000)
    dh = c_t[0] / 20000
    heights = (np.arange(20000) + 0.5) * dh
    ed_ml = normal_ml[0]
    volumes = np.empty(phantom.n_frames)
    for frame in range(phantom.n_frames):
        r_ed, r_now, _ = phantom.lv_radii_mm(heights, frame)
        cross_ml = np.sum(r_ed * r_now) * dh / 1000.0  # int r_ED r_normal dh
        ed_sq, now_sq = ed_ml / np.pi, normal_ml[frame] / np.pi  # int r^2 dh
        volumes[frame] = np.pi * ed_sq - k1 * (ed_sq - cross_ml) + 0.5 * k2 * (ed_sq - 2 * cross_ml + now_sq)
    return volumes


def phantom_truth(phantom: Phantom) -> dict:
    """Ground truth of a phantom (volumes of the continuous shapes, not of the labels)."""
    lv_ml = lv_cavity_volumes_ml(phantom)
    rv_ml = phantom.rv_edv_ml * (1 - phantom.rv_ef_pct / 100 * phantom.ejected)  # W(t) was solved to hold this curve
    big_a, big_c = phantom.epicardium_semi_axes_mm
    myocardium_ml = half_superellipsoid_ml(big_a, big_c, phantom.profile_exponent) - lv_ml[0]  # constant over the cycle
    ed, es = 0, phantom.es_frame
    rr_ms = 60000.0 / phantom.heart_rate_bpm
    options = {key: (list(value) if isinstance(value, tuple) else value) for key, value in asdict(phantom.options).items()}
    return {
        "lv_edv_ml": float(lv_ml[ed]), "lv_esv_ml": float(lv_ml[es]),
        "lv_sv_ml": float(lv_ml[ed] - lv_ml[es]), "lv_ef_pct": float(100 * (lv_ml[ed] - lv_ml[es]) / lv_ml[ed]),
        "rv_edv_ml": float(rv_ml[ed]), "rv_esv_ml": float(rv_ml[es]),
        "rv_sv_ml": float(rv_ml[ed] - rv_ml[es]), "rv_ef_pct": float(100 * (rv_ml[ed] - rv_ml[es]) / rv_ml[ed]),
        "lv_myocardium_ml": float(myocardium_ml), "lv_mass_g": float(MYOCARDIUM_DENSITY_G_PER_ML * myocardium_ml),
        "lv_wall_ed_mm": float(phantom.wall_mm),
        "lv_volume_ml": [float(x) for x in lv_ml], "rv_volume_ml": [float(x) for x in rv_ml],
        "ed_frame": ed, "es_frame": es, "heart_rate_bpm": float(phantom.heart_rate_bpm), "rr_ms": float(rr_ms),
        "es_time_ms": float(es * rr_ms / phantom.n_frames), "seed": phantom.seed,
        "pixel_mm": phantom.pixel_mm, "slice_mm": phantom.slice_mm, "slice_thickness_mm": phantom.thickness_mm,
        "options": options,
    }


def phantom_affine(phantom: Phantom) -> np.ndarray:
    """NIfTI affine of a plausible oblique short-axis stack (RAS+ mm).

    The long axis (base to apex, the slice direction) points left, anterior and
    inferior; image up is anterior and image right the patient's left before the pose
    rotation, which turns the in-plane axes so the heart keeps its place in the world.
    """
    normal = np.array([-0.6, 0.45, -0.66])
    normal /= np.linalg.norm(normal)
    anterior = np.array([0.0, 1.0, 0.0])
    up = anterior - anterior.dot(normal) * normal
    scene_v = -up / np.linalg.norm(up)  # image down at no rotation
    scene_u = np.cross(normal, scene_v)
    if scene_u[0] > 0:  # image right must be the patient's left (-x in RAS)
        scene_u = -scene_u
    cos, sin = math.cos(phantom.rotation_rad), math.sin(phantom.rotation_rad)
    column = cos * scene_u - sin * scene_v  # world direction of +x voxel index
    row = sin * scene_u + cos * scene_v  # world direction of +y voxel index
    ny, nx = phantom.size
    first_pixel = np.array([-(nx - 1) / 2, -(ny - 1) / 2]) * phantom.pixel_mm - phantom.translation_mm
    unrotate = np.array([[cos, sin], [-sin, cos]])  # Rot(-rotation)
    scene = unrotate @ first_pixel - phantom.heart_offset_mm
    # World origin: the LV axis at the base plane.
    origin = scene[0] * scene_u + scene[1] * scene_v + normal * phantom.slice_centres_mm[0]
    affine = np.eye(4)
    affine[:3, 0] = column * phantom.pixel_mm
    affine[:3, 1] = row * phantom.pixel_mm
    affine[:3, 2] = normal * phantom.slice_mm
    affine[:3, 3] = origin
    return affine
