"""DICOM cine reading and writing (cardiolab.data.dicom) and load_cine's dispatch to it.

Every test writes its own series into tmp_path from a small synthetic study with an
oblique orientation, so no data set is needed. Where the check could be fooled by the
writer and the reader sharing a mistake, the expected values come from the raw DICOM
elements read with pydicom and the geometry rules of the standard instead.
"""
import random
import shutil
import warnings
import zipfile

import numpy as np
import pydicom
import pytest

from cardiolab.data import CineLoadError, CineStudy, load_cine
from cardiolab.data.dicom import DICOM_PREFIX_OFFSET, load_dicom, looks_like_dicom, save_dicom_series

N_FRAMES, N_SLICES, N_ROWS, N_COLUMNS = 5, 4, 24, 20
SPACING_ZYX = (8.0, 1.4, 1.25)
FRAME_TIMES_MS = np.array([0.0, 42.0, 95.5, 140.0, 188.0])


def rotation(axis, angle_deg) -> np.ndarray:
    """Rodrigues' rotation matrix about a unit axis."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.deg2rad(angle_deg)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def make_study(seed=0, shape=(N_FRAMES, N_SLICES, N_ROWS, N_COLUMNS), spacing=SPACING_ZYX, frame_times=FRAME_TIMES_MS):
    """Random images (every frame distinct, so any misplaced image shows) on an oblique grid."""
    rng = np.random.default_rng(seed)
    image = rng.normal(300.0, 80.0, shape).astype(np.float32)
    affine = np.eye(4)
    # A double-oblique short-axis plane, right-handed voxel axes.
    affine[:3, :3] = rotation([0.3, -0.5, 0.8], 37.0) * np.array([spacing[2], spacing[1], spacing[0]])
    affine[:3, 3] = [-31.5, 12.25, 47.0]
    info = {"height_cm": 176.0, "weight_kg": 81.5, "heart_rate_bpm": 75.0, "patient": "secret-id"}
    return CineStudy(image, spacing, frame_times_ms=frame_times[: shape[0]], affine=affine, info=info)


def quantisation_bound(image) -> float:
    """Half a uint16 step over the intensity range, plus float32 rounding."""
    return 0.5 * (float(image.max()) - float(image.min())) / 65534 * 1.001 + 1e-4 * float(np.abs(image).max())


def assert_same_study(loaded, original):
    assert loaded.shape == original.shape
    np.testing.assert_array_less(np.abs(loaded.image - original.image), quantisation_bound(original.image))
    np.testing.assert_allclose(loaded.spacing, original.spacing, rtol=1e-9)
    np.testing.assert_allclose(loaded.frame_times_ms, original.frame_times_ms, atol=1e-9)
    np.testing.assert_allclose(loaded.affine, original.affine, atol=1e-8)


@pytest.fixture
def study():
    return make_study()


@pytest.fixture
def series_folder(tmp_path, study):
    folder = tmp_path / "series"
    save_dicom_series(study, folder)
    return folder


def edit_files(files, change):
    """Rewrite DICOM files after ``change(dataset)``."""
    for path in files:
        dataset = pydicom.dcmread(path)
        change(dataset)
        dataset.save_as(path)


# --- reading ---------------------------------------------------------------------------
def test_round_trip_classic_series(series_folder, study):
    files = sorted(series_folder.iterdir())
    assert len(files) == N_FRAMES * N_SLICES
    loaded = load_dicom(series_folder)
    assert_same_study(loaded, study)
    assert loaded.info["format"] == "dicom"
    assert loaded.info["series_description"] == "SA cine"
    assert loaded.info["height_cm"] == pytest.approx(176.0)
    assert loaded.info["weight_kg"] == pytest.approx(81.5)
    assert loaded.info["heart_rate_bpm"] == pytest.approx(75.0)
    assert "secret-id" not in repr(loaded.info)  # no patient identity travels


def test_a_stray_empty_functional_groups_element_leaves_a_classic_image_classic(series_folder, study):
    """The GE Signa export: every classic MR file carries an empty PerFrameFunctionalGroupsSequence
    and a private block; the geometry is at the top level and must be read from there."""
    from pydicom.sequence import Sequence

    def as_exported(dataset):
        dataset.PerFrameFunctionalGroupsSequence = Sequence([])
        dataset.private_block(0x0019, "GEMS_ACQU_01", create=True).add_new(0x10, "DS", "1.5")

    edit_files(sorted(series_folder.glob("*.dcm")), as_exported)
    assert_same_study(load_cine(series_folder), study)
    assert not any("lack ImagePositionPatient" in note for note in load_cine(series_folder).info["notes"])


def test_image_placement_follows_the_raw_dicom_elements(series_folder):
    """Independent of the writer: sort the raw files by IPP . normal and TriggerTime, and
    check every image and the affine against the standard's pixel-to-patient rule."""
    loaded = load_dicom(series_folder)
    datasets = [pydicom.dcmread(p) for p in series_folder.iterdir()]
    iop = np.array(datasets[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    positions = sorted({round(float(np.dot(np.array(d.ImagePositionPatient, float), normal)), 3) for d in datasets})
    times = sorted({float(d.TriggerTime) for d in datasets})
    flip = np.diag([-1.0, -1.0, 1.0])  # LPS -> RAS
    for d in datasets:
        ipp = np.array(d.ImagePositionPatient, float)
        z = positions.index(round(float(ipp @ normal), 3))
        t = times.index(float(d.TriggerTime))
        expected = d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept)
        np.testing.assert_allclose(loaded.image[t, z], expected, rtol=1e-6, atol=1e-3)
        # [PS3.3 C.7.6.2.1.1] P(row r, column c) = IPP + c * dx * row_cosines + r * dy * column_cosines
        dy, dx = (float(v) for v in d.PixelSpacing)
        r, c = 7, 3
        world_lps = ipp + c * dx * iop[:3] + r * dy * iop[3:]
        world_ras = (loaded.affine @ np.array([c, r, z, 1.0]))[:3]
        np.testing.assert_allclose(world_ras, flip @ world_lps, atol=1e-6)


def test_shuffled_renamed_and_nested_files_load_in_order(tmp_path, series_folder, study):
    files = sorted(series_folder.iterdir())
    random.Random(3).shuffle(files)
    messy = tmp_path / "messy"
    for index, path in enumerate(files):
        target = messy / f"sub{index % 3}" / f"x{random.Random(index).randrange(10**6):06d}_{index}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    assert_same_study(load_dicom(messy), study)
    assert_same_study(load_dicom(files), study)  # a shuffled list of paths


def test_slice_spacing_is_measured_not_slice_thickness(series_folder, study):
    edit_files(series_folder.iterdir(), lambda d: setattr(d, "SliceThickness", "5.5"))
    assert load_dicom(series_folder).spacing[0] == pytest.approx(SPACING_ZYX[0])


def test_of_two_cines_the_one_with_more_phases_is_loaded_and_the_other_listed(tmp_path, study):
    longer = make_study(seed=1, shape=(N_FRAMES + 1, N_SLICES, N_ROWS, N_COLUMNS), frame_times=np.arange(N_FRAMES + 1) * 40.0)
    save_dicom_series(study, tmp_path, series_description="SA cine", series_uid="1.2.3.4.1")
    save_dicom_series(longer, tmp_path / "second", series_description="SA cine repeat", series_uid="1.2.3.4.2")
    with pytest.warns(UserWarning, match="2 series found"):
        loaded = load_dicom(tmp_path)
    assert_same_study(loaded, longer)
    assert loaded.info["series_uid"] == "1.2.3.4.2"
    (note,) = [note for note in loaded.info["notes"] if "series found" in note]
    for text in ("1.2.3.4.1", "'SA cine'", f"files={N_FRAMES * N_SLICES}", f"{N_FRAMES} phases x {N_SLICES} slices", "series_uid="):
        assert text in note
    assert_same_study(load_dicom(tmp_path, series_uid="1.2.3.4.1"), study)
    with pytest.raises(CineLoadError, match="no series with series_uid=9.9"):
        load_dicom(tmp_path, series_uid="9.9")


def test_of_two_equal_cines_the_later_series_is_loaded(tmp_path, study):
    repeat = make_study(seed=1)
    save_dicom_series(repeat, tmp_path / "b", series_uid="1.2.3.4.1")
    save_dicom_series(study, tmp_path / "a", series_uid="1.2.3.4.2")
    edit_files((tmp_path / "b").iterdir(), lambda d: setattr(d, "SeriesNumber", 7))
    with pytest.warns(UserWarning, match="2 series found"):
        assert_same_study(load_dicom(tmp_path), repeat)


def test_cine_is_picked_over_a_localiser(tmp_path, study):
    save_dicom_series(study, tmp_path / "cine")
    localiser = make_study(seed=2, shape=(1, 1, N_ROWS, N_COLUMNS))
    save_dicom_series(localiser, tmp_path / "loc", series_description="localizer")
    loaded = load_dicom(tmp_path)
    assert_same_study(loaded, study)
    assert any("2 series found" in note and "'localizer'" in note for note in loaded.info["notes"])


def test_no_cine_among_several_series_is_reported(tmp_path):
    for index, description in enumerate(("localizer", "4CH cine")):
        save_dicom_series(make_study(seed=index, shape=(1, 1, 8, 8)), tmp_path / description, series_description=description)
    with pytest.raises(CineLoadError, match=r"2 series found and none looks like a short-axis cine(.|\n)*'4CH cine' files=1"):
        load_dicom(tmp_path)


def test_short_axis_description_breaks_a_tie(tmp_path, study):
    save_dicom_series(study, tmp_path / "a", series_description="cine_sax")
    save_dicom_series(make_study(seed=4), tmp_path / "b", series_description="LVOT stack")
    assert_same_study(load_dicom(tmp_path), study)


def instance_file(folder, slice_index, frame_index):
    return folder / f"IM_{slice_index * N_FRAMES + frame_index + 1:05d}.dcm"


def test_missing_slice_is_reported(series_folder):
    for t in range(N_FRAMES):
        instance_file(series_folder, 1, t).unlink()
    with pytest.raises(CineLoadError, match="slice seems to be missing") as caught:
        load_dicom(series_folder)
    assert f"{2 * SPACING_ZYX[0]:.2f} mm apart" in str(caught.value)
    assert str(series_folder) in str(caught.value)


def test_missing_phase_of_one_slice_is_reported(series_folder):
    instance_file(series_folder, 2, 3).unlink()
    with pytest.raises(CineLoadError, match=rf"slice 3 of {N_SLICES} .* has {N_FRAMES - 1} phases, expected {N_FRAMES}"):
        load_dicom(series_folder)


def test_missing_trigger_time_falls_back_to_instance_number(series_folder, study):
    edit_files(series_folder.iterdir(), lambda d: delattr(d, "TriggerTime"))
    with pytest.warns(UserWarning) as caught:
        loaded = load_dicom(series_folder)
    assert any("phases ordered by InstanceNumber" in str(w.message) for w in caught)
    np.testing.assert_array_less(np.abs(loaded.image - study.image), quantisation_bound(study.image))
    assert any("InstanceNumber" in note for note in loaded.info["notes"])
    # HeartRate 75 bpm -> R-R 800 ms, frames spread evenly over it.
    np.testing.assert_allclose(loaded.frame_times_ms, np.arange(N_FRAMES) * 800.0 / N_FRAMES)


def test_missing_position_falls_back_to_slice_location(series_folder, study):
    edit_files(series_folder.iterdir(), lambda d: delattr(d, "ImagePositionPatient"))
    with pytest.warns(UserWarning, match="SliceLocation"):
        loaded = load_dicom(series_folder)
    np.testing.assert_array_less(np.abs(loaded.image - study.image), quantisation_bound(study.image))
    assert loaded.spacing[0] == pytest.approx(SPACING_ZYX[0])


def test_missing_geometry_without_any_fallback_fails(series_folder):
    def strip(dataset):
        for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "SliceLocation", "CardiacNumberOfImages"):
            delattr(dataset, keyword)

    edit_files(series_folder.iterdir(), strip)
    with pytest.raises(CineLoadError, match="ImagePositionPatient/ImageOrientationPatient"):
        load_dicom(series_folder)


def test_inconsistent_image_size_names_the_file(series_folder):
    odd = instance_file(series_folder, 1, 1)
    dataset = pydicom.dcmread(odd)
    dataset.Rows, dataset.Columns = N_COLUMNS, N_ROWS  # transposed grid, same byte count
    dataset.save_as(odd)
    with pytest.raises(CineLoadError, match=rf"{odd.name}.*{N_COLUMNS}x{N_ROWS}|{N_COLUMNS}x{N_ROWS}.*{odd.name}"):
        load_dicom(series_folder)


def test_non_finite_intensities_are_refused(series_folder):
    bad = instance_file(series_folder, 0, 2)
    dataset = pydicom.dcmread(bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns that NaN is not a valid DS
        dataset.RescaleSlope = "NaN"
        dataset.save_as(bad)
        with pytest.raises(CineLoadError, match=rf"{bad.name}: {N_ROWS * N_COLUMNS} pixels are NaN"):
            load_dicom(series_folder)


def test_not_a_dicom_file_is_named(tmp_path, series_folder):
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n" * 20)
    assert not looks_like_dicom(text)
    with pytest.raises(CineLoadError, match="notes.txt: not a DICOM file"):
        load_dicom([*series_folder.iterdir(), text])
    with pytest.raises(CineLoadError, match="notes.txt: not a NIfTI, DICOM"):
        load_cine(text)
    empty = tmp_path / "only_text"
    empty.mkdir()
    shutil.copy(text, empty)
    with pytest.raises(CineLoadError, match="no DICOM image files found"):
        load_dicom(empty)


def test_stray_non_dicom_file_in_a_folder_is_skipped(series_folder, study):
    (series_folder / "README.txt").write_text("exported by a scanner\n")
    loaded = load_dicom(series_folder)
    assert_same_study(loaded, study)
    assert any("skipped" in note for note in loaded.info["notes"])


# --- tolerant reading: what real exports carry -----------------------------------------
def test_invalid_uids_are_read_and_summarised_in_one_note(series_folder, study):
    """GE writes UIDs with a leading zero in a component; pydicom warns once per element."""

    def invalid_uids(dataset):
        dataset.SeriesInstanceUID = "1.2.840.0113619.2.80.99"
        dataset.SOPInstanceUID = f"1.2.840.0113619.2.80.99.{int(dataset.InstanceNumber)}"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns while the test writes them, too
        edit_files(series_folder.iterdir(), invalid_uids)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_dicom(series_folder)
    assert_same_study(loaded, study)
    (note,) = [note for note in loaded.info["notes"] if "Invalid value for VR UI" in note]
    assert "'1.2.840.0113619.2.80.99" in note and "read as stored" in note
    assert len(caught) <= len(loaded.info["notes"])  # one warning a note, not one a file
    assert loaded.info["series_uid"] == "1.2.840.0113619.2.80.99"


def _write_without_preamble(path, keep_file_meta: bool):
    """What old exporters write: no 128-byte preamble, no 'DICM'; sometimes no file meta at all."""
    dataset = pydicom.dcmread(path)
    dataset.preamble = None
    if keep_file_meta:
        dataset.save_as(path, enforce_file_format=False)
    else:
        del dataset.file_meta
        pydicom.dcmwrite(path, dataset, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert path.read_bytes()[DICOM_PREFIX_OFFSET: DICOM_PREFIX_OFFSET + 4] != b"DICM"


@pytest.mark.parametrize("keep_file_meta", [True, False], ids=["file-meta-only", "bare-dataset"])
def test_files_without_preamble_are_read_and_noted(series_folder, study, keep_file_meta):
    for path in sorted(series_folder.iterdir())[::3]:
        _write_without_preamble(path, keep_file_meta)
    with pytest.warns(UserWarning, match="without the 128-byte preamble"):
        loaded = load_dicom(series_folder)
    assert_same_study(loaded, study)
    one = sorted(series_folder.iterdir())[0]
    assert looks_like_dicom(one)
    assert load_cine(sorted(series_folder.iterdir())).shape == study.shape  # a list of files, strict mode


def test_a_dicomdir_beside_the_images_is_skipped_and_noted(tmp_path, series_folder, study):
    from pydicom.fileset import FileSet

    file_set = FileSet()
    for path in sorted(series_folder.iterdir()):
        file_set.add(str(path))
    exported = tmp_path / "cd"
    file_set.write(exported)  # DICOMDIR plus the images in PT*/ST*/SE* folders
    assert (exported / "DICOMDIR").is_file()
    with pytest.warns(UserWarning, match=r"a DICOMDIR \(media index, not an image\) skipped"):
        loaded = load_dicom(exported)
    assert_same_study(loaded, study)


def test_private_tags_odd_vrs_and_missing_optional_tags_are_tolerated(series_folder, study):
    def as_a_scanner_writes(dataset):
        block = dataset.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
        block.add_new(0x10, "OB", b"SV10\x04\x03\x02\x01" * 8)
        block.add_new(0x11, "UN", b"\x00\x01\x02\x03")
        dataset.add_new(0x00091001, "UN", b"GEMS")  # a private element without its creator
        dataset.add_new(0x00180095, "DS", "")  # PixelBandwidth present but empty
        for keyword in ("HeartRate", "PatientSize", "PatientWeight", "SeriesDescription", "SliceThickness", "Modality"):
            delattr(dataset, keyword)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        edit_files(series_folder.iterdir(), as_a_scanner_writes)
    loaded = load_dicom(series_folder)
    assert_same_study(loaded, study)
    assert "height_cm" not in loaded.info and "heart_rate_bpm" not in loaded.info


def test_provenance_names_source_format_series_and_every_warning(tmp_path, study):
    save_dicom_series(study, tmp_path / "cine", series_uid="1.2.3.9")
    save_dicom_series(make_study(seed=2, shape=(1, 1, N_ROWS, N_COLUMNS)), tmp_path / "loc", series_description="localizer")
    (tmp_path / "cine" / "report.txt").write_text("no image\n")
    with pytest.warns(UserWarning):
        loaded = load_dicom(tmp_path)
    provenance = loaded.provenance
    assert provenance["source"] == str(tmp_path) and provenance["format"] == "dicom"
    assert provenance["series_uid"] == "1.2.3.9" and provenance["series_found"] == 2
    assert provenance["warnings"] == loaded.info["notes"]
    assert any("localizer" in text for text in provenance["warnings"])
    assert any("report.txt" in text for text in provenance["warnings"])


def test_a_whole_pacs_export_zip_reads_as_the_study_with_one_warning_per_quirk(tmp_path, study):
    """Every quirk at once, zipped: CD layout under a DICOMDIR, a localiser, invalid UIDs, an
    empty functional-groups element, private blocks, files without preamble, a text report."""
    from cardiolab.data.scanner_export import write_scanner_export, zip_folder

    archive = zip_folder(write_scanner_export(study, tmp_path / "EXPORT"), tmp_path / "export.zip")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_cine(archive)
    assert_same_study(loaded, study)
    warned = [str(w.message) for w in caught if w.category is UserWarning]  # not the GC's ResourceWarnings
    assert len(warned) == len(loaded.provenance["warnings"]) == 5  # DICOMDIR, report, no preamble, series, UIDs
    assert all(text.startswith(f"{archive}:EXPORT: ") for text in warned)  # the zip, never a temporary folder
    assert "LOCALIZER" in " ".join(warned) and loaded.provenance["source"] == str(archive)


def test_a_broken_file_inside_a_zip_is_named_by_its_place_in_the_zip(tmp_path, series_folder):
    victim = instance_file(series_folder, 1, 2)
    victim.write_bytes(victim.read_bytes()[:400])
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in series_folder.iterdir():
            zipped.write(path, f"exam/{path.name}")
    with pytest.raises(CineLoadError, match=rf"upload.zip:exam/{victim.name}: truncated or corrupt") as caught:
        load_cine(archive)
    assert "cardiolab-zip-" not in str(caught.value)


def test_garbage_that_starts_like_dicom_is_skipped_without_reading_gigabytes(series_folder, study):
    """A forced read of arbitrary bytes can ask pydicom for a 4 GB value: such files are not forced."""
    (series_folder / "junk.bin").write_bytes(b"\x08\x00\x16\x00" + b"\xff" * 100)
    (series_folder / "DICM.txt").write_bytes(b"DICM" * 10)
    with pytest.warns(UserWarning, match="2 files skipped"):
        assert_same_study(load_dicom(series_folder), study)


@pytest.mark.parametrize("keep_fraction", [0.2, 0.5, 0.95])
def test_truncated_dicom_is_named(series_folder, keep_fraction):
    victim = instance_file(series_folder, 1, 2)
    assert looks_like_dicom(victim)
    raw = victim.read_bytes()
    victim.write_bytes(raw[: int(len(raw) * keep_fraction)])
    with pytest.raises(CineLoadError, match=victim.name):
        load_dicom(series_folder)


def test_enhanced_multiframe_round_trip(tmp_path, study):
    (path,) = save_dicom_series(study, tmp_path, enhanced=True)
    dataset = pydicom.dcmread(path)
    assert dataset.SOPClassUID.name == "Enhanced MR Image Storage"
    assert int(dataset.NumberOfFrames) == N_FRAMES * N_SLICES
    assert_same_study(load_dicom([path]), study)
    assert_same_study(load_cine(path), study)  # one file: dispatched through looks_like_dicom


def test_left_handed_affine_keeps_world_positions(tmp_path, study):
    """DICOM slices are sorted along the normal: a left-handed study comes back with its
    slices reversed, but every voxel at the same place in the world."""
    flipped = study.slices(slice(None, None, -1))  # z axis reversed: left-handed affine
    assert np.linalg.det(flipped.affine[:3, :3]) < 0
    save_dicom_series(flipped, tmp_path)
    loaded = load_dicom(tmp_path)
    assert_same_study(loaded, study)


# --- load_cine dispatch ----------------------------------------------------------------
def test_load_cine_dispatches_folder_list_and_zip(tmp_path, series_folder, study):
    assert_same_study(load_cine(series_folder), study)
    assert_same_study(load_cine(sorted(series_folder.iterdir())), study)
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in series_folder.iterdir():
            zipped.write(path, f"exam/{path.name}")
    loaded = load_cine(archive)
    assert_same_study(loaded, study)
    assert loaded.info["source"] == str(archive)


def test_load_cine_refuses_an_unsafe_zip(tmp_path, series_folder):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(next(series_folder.iterdir()), "../escape.dcm")
    with pytest.raises(CineLoadError, match=r"evil.zip: entry '../escape.dcm'"):
        load_cine(archive)
    assert not (tmp_path / "escape.dcm").exists()


# --- writing ---------------------------------------------------------------------------
def test_saved_files_are_classic_mr_images_with_uint16_pixels(series_folder, study):
    dataset = pydicom.dcmread(instance_file(series_folder, 0, 0))
    assert dataset.preamble is not None and dataset.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert dataset.SOPClassUID.name == "MR Image Storage"
    assert dataset.pixel_array.dtype == np.uint16
    assert (int(dataset.Rows), int(dataset.Columns)) == (N_ROWS, N_COLUMNS)
    assert [float(v) for v in dataset.PixelSpacing] == [SPACING_ZYX[1], SPACING_ZYX[2]]
    assert float(dataset.SliceThickness) == SPACING_ZYX[0]
    assert "secret" not in str(dataset.PatientID) + str(dataset.PatientName)


def test_save_validates_its_study(tmp_path):
    with pytest.raises(TypeError, match="study must be a CineStudy"):
        save_dicom_series(np.zeros((2, 2, 4, 4)), tmp_path)


def test_spacing_wins_over_a_unit_affine(tmp_path):
    """Some NIfTI files carry an affine without voxel sizes: directions come from the
    affine, sizes from the spacing, and the writer says so."""
    study = make_study()
    study.affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    with pytest.warns(UserWarning, match="disagree with spacing"):
        save_dicom_series(study, tmp_path)
    loaded = load_dicom(tmp_path)
    np.testing.assert_allclose(loaded.spacing, SPACING_ZYX)
    expected = np.diag([-SPACING_ZYX[2], -SPACING_ZYX[1], SPACING_ZYX[0], 1.0])
    np.testing.assert_allclose(loaded.affine, expected, atol=1e-9)


@pytest.mark.acdc
def test_acdc_cine_exports_and_reloads(tmp_path, acdc_training):
    original = load_cine(acdc_training / "patient090")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ACDC affine has no voxel sizes (see above)
        save_dicom_series(original, tmp_path, series_description="ACDC patient090 SA")
    loaded = load_cine(tmp_path)
    assert loaded.shape == original.shape
    np.testing.assert_array_less(np.abs(loaded.image - original.image), quantisation_bound(original.image))
    np.testing.assert_allclose(loaded.spacing, original.spacing, rtol=1e-6)
    np.testing.assert_allclose(loaded.frame_times_ms, original.frame_times_ms, atol=1e-6)
