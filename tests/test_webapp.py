"""The web app: its plain logic (studies, views, models) and its pages through AppTest.

The AppTest part runs the real app script once (module fixture): a small phantom with a
known ejection fraction, analysed by the bundled default model, then every page and
widget test reuses that session (the model runs once; later reruns read its cache).
"""
import io
import json
import re
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tomllib

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:  # `webapp` is a folder of the project, not an installed package
    sys.path.insert(0, str(PROJECT_ROOT))

from cardiolab import LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY
from cardiolab.clinical import cardiac_function
from cardiolab.data import CineLoadError, CineStudy, save_study
from cardiolab.data.phantom import make_phantom
from webapp import models, studies, views

APP = PROJECT_ROOT / "webapp" / "app.py"
SMALL = "small, fast (8 frames x 8 slices x 112 x 112)"
EXAMPLE = "Severely reduced EF (LVEF 20 %)"
EF_TOLERANCE_PCT = 8.0  # model vs phantom truth, EF percentage points (the default model's ACDC MAE is ~5)


def tiny_phantom(**options):
    return make_phantom(seed=3, n_frames=4, n_slices=4, size=(64, 64), **options)


def nifti_bytes(study, folder: Path, name: str = "cine.nii.gz") -> bytes:
    return save_study(study, folder / name)[0].read_bytes()


# --- studies: examples, uploads, limits ------------------------------------------------------------------
def test_every_example_has_a_truth_and_the_default_is_the_demo_study():
    opened = studies.open_example(studies.DEFAULT_EXAMPLE, SMALL)
    demo = make_phantom(seed=0, n_frames=8, n_slices=8, size=(112, 112))
    assert np.array_equal(opened.study.image, demo.image)  # the embedded default is `cardiolab demo`'s study
    assert opened.study.truth["lv_ef_pct"] > 0
    with pytest.raises(ValueError, match="name must be one of"):
        studies.open_example("no such example")


def test_safe_file_name_strips_folders_and_odd_characters():
    taken = set()
    assert studies.safe_file_name("../../etc/passwd", taken) == "passwd"
    assert studies.safe_file_name("C:\\Users\\x\\scan 1.nii.gz", taken) == "scan_1.nii.gz"
    assert studies.safe_file_name("/abs/passwd", taken) == "2_passwd"  # a clash gets a prefix
    assert studies.safe_file_name("..", taken) == "upload"


def test_upload_space_gives_each_upload_its_own_folder_and_removes_them(tmp_path):
    space = studies.UploadSpace(parent=tmp_path)
    first = space.new_folder()
    (first / "a.nii.gz").write_bytes(b"x")
    second = space.new_folder()
    assert second != first and second.is_dir()
    assert not first.exists()  # replaced upload: removed
    space.cleanup()
    assert not space.root.exists() and list(tmp_path.iterdir()) == []  # session ended: nothing left


def test_open_uploads_reads_a_nifti_and_keeps_the_truth_sidecars(tmp_path):
    study = tiny_phantom()
    paths = save_study(study, tmp_path / "cine.nii.gz")  # image, _gt labels, _truth.json
    files = [(path.name, path.read_bytes()) for path in paths]
    space = studies.UploadSpace(parent=tmp_path)
    one = studies.open_uploads(files[:1], space)
    assert one.study.shape == study.shape and one.label == "upload: cine.nii.gz"
    assert np.allclose(one.study.image, study.image)
    three = studies.open_uploads(files, space)  # several files: opened as the folder they make up
    assert three.study.truth["lv_ef_pct"] == pytest.approx(study.truth["lv_ef_pct"])
    assert sorted(three.study.labels) == list(range(study.n_frames))
    space.cleanup()


def test_broken_upload_names_the_file_not_the_server_folder(tmp_path):
    space = studies.UploadSpace(parent=tmp_path)
    with pytest.raises(CineLoadError) as caught:
        studies.open_uploads([("broken.nii.gz", b"this is not a NIfTI file")], space)
    message = str(caught.value)
    assert message.startswith("broken.nii.gz:")
    assert str(space.root) not in message and "cardiolab-session" not in message
    space.cleanup()


def zip_bytes(entries: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_upload_opens_a_wrapped_study_and_refuses_unsafe_entries(tmp_path):
    study = tiny_phantom()
    image = nifti_bytes(study, tmp_path)
    (tmp_path / "space").mkdir()
    space = studies.UploadSpace(parent=tmp_path / "space")
    opened = studies.open_uploads([("study.zip", zip_bytes({"patient/cine.nii.gz": image}))], space)
    assert opened.study.shape == study.shape
    for bad_name, problem in (("../escape.nii.gz", "'..'"), ("/etc/cine.nii.gz", "absolute path")):
        with pytest.raises(CineLoadError, match=re.escape(problem)) as caught:
            studies.open_uploads([("bad.zip", zip_bytes({bad_name: image}))], space)
        assert str(caught.value).startswith("bad.zip")
    assert not (tmp_path / "escape.nii.gz").exists()
    space.cleanup()


def test_zip_over_the_decompressed_cap_is_refused(tmp_path):
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(zip_bytes({"zeros.bin": bytes(200_000)}))  # compresses to a few hundred bytes
    assert archive.stat().st_size < 5_000
    with pytest.raises(CineLoadError, match="over the limit"):
        studies.open_zip(archive, tmp_path / "out", max_bytes=100_000)
    assert not (tmp_path / "out" / "zeros.bin").exists()


def test_nifti_declaring_too_many_voxels_is_refused_before_reading(tmp_path):
    header = nib.Nifti1Header()
    header.set_data_shape((4096, 4096, 64, 64))  # 2**36 voxels: 256 GiB as float32
    header.set_data_dtype(np.int16)
    path = tmp_path / "huge.nii"
    with open(path, "wb") as handle:
        header.write_to(handle)  # the header alone: a loader that trusted it would try to allocate
    with pytest.raises(CineLoadError, match="over the app's limit"):
        studies.load_checked(path)


def test_server_path_outside_the_data_root_is_refused(tmp_path):
    study_path = save_study(tiny_phantom(), tmp_path / "data" / "cine.nii.gz")[0]
    space = studies.UploadSpace(parent=tmp_path)
    opened = studies.open_server_path(str(study_path), space, data_root=tmp_path / "data")
    assert opened.study.n_frames == 4
    with pytest.raises(CineLoadError, match="outside the data folder"):
        studies.open_server_path(str(study_path), space, data_root=tmp_path / "elsewhere")
    with pytest.raises(CineLoadError, match="no such file"):
        studies.open_server_path(str(tmp_path / "missing.nii.gz"), space)
    space.cleanup()


# --- views: pictures, tiles, Dice ------------------------------------------------------------------------
def test_overlay_paints_the_chosen_structures_with_the_chosen_opacity():
    image = np.tile(np.linspace(0, 100, 8, dtype=np.float32), (8, 1))
    labels = np.zeros((8, 8), np.uint8)
    labels[1, 1], labels[2, 2], labels[3, 3] = LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY
    window = (0.0, 100.0)
    plain = views.overlay_rgb(image, None, window)
    assert np.array_equal(plain[..., 0], plain[..., 1])  # grey
    assert plain[0, 7, 0] == 255 and plain[0, 0, 0] == 0  # window ends
    opaque = views.overlay_rgb(image, labels, window, opacity=1.0, structures=[LV_CAVITY, RV_CAVITY])
    assert tuple(opaque[1, 1]) == views.LABEL_COLOURS[LV_CAVITY]
    assert tuple(opaque[3, 3]) == views.LABEL_COLOURS[RV_CAVITY]
    assert np.array_equal(opaque[2, 2], plain[2, 2])  # myocardium toggled off
    half = views.overlay_rgb(image, labels, window, opacity=0.5)
    expected = np.rint(0.5 * plain[1, 1] + 0.5 * np.array(views.LABEL_COLOURS[LV_CAVITY]))
    assert np.abs(half[1, 1] - expected).max() <= 1  # plain is itself rounded to whole grey levels
    assert views.overlay_rgb(image, labels, window, zoom=3).shape == (24, 24, 3)
    with pytest.raises(ValueError, match="opacity"):
        views.overlay_rgb(image, labels, window, opacity=1.5)


def test_heatmap_leaves_unexplained_pixels_and_paints_hot_ones_red():
    image = np.full((4, 4), 50.0, np.float32)
    cam = np.zeros((4, 4), np.float32)
    cam[0, 0] = 1.0
    picture = views.heatmap_rgb(image, cam, (0.0, 100.0), opacity=1.0)
    assert tuple(picture[0, 0]) == tuple(views.HEAT_COLOURS[-1].astype(np.uint8))
    assert tuple(picture[3, 3]) == (128, 128, 128)


def test_metric_tiles_carry_units_and_flag_a_reduced_ef():
    study = tiny_phantom(lv_ef_pct=30.0)
    function = cardiac_function(study)
    tiles = {tile.label: tile for tile in views.metric_tiles(function)}
    assert list(tiles) == ["LVEF", "LVEDV", "LVESV", "LVSV", "LV mass", "RVEF"]
    assert tiles["LVEF"].value == f"{function.lv_ef_pct:.1f} %"
    assert tiles["LVEDV"].value.endswith(" ml") and tiles["LV mass"].value.endswith(" g")
    assert tiles["LVEF"].reading.startswith("reduced") and tiles["LVEF"].colour == "red"
    assert views.format_value(None, "%") == "n/a"


def test_dice_between_two_segmentations_matches_the_overlap_by_hand():
    a = np.zeros((2, 1, 10, 10), np.uint8)
    b = np.zeros_like(a)
    a[:, 0, 0:4, 0:5] = LV_CAVITY  # 20 voxels per frame
    b[:, 0, 2:6, 0:5] = LV_CAVITY  # 20 voxels, 10 shared
    a[1, 0, 8, 8] = b[1, 0, 8, 8] = RV_CAVITY
    rows = views.dice_by_frame(a, b, [0, 1])
    assert rows[0]["LV"] == pytest.approx(2 * 10 / 40)
    assert rows[1]["RV"] == 1.0 and rows[0]["RV"] == 1.0  # both empty counts as agreement
    assert views.mean_dice(rows)["LV"] == pytest.approx(0.5)


def test_segmentation_download_is_a_nifti_in_the_study_space():
    study = tiny_phantom()
    labels = np.stack([study.labels[t] for t in range(study.n_frames)])
    data = views.segmentation_nifti_bytes(study, labels)
    image = nib.Nifti1Image.from_bytes(__import__("gzip").decompress(data))
    assert np.array_equal(np.asarray(image.dataobj).transpose(3, 2, 1, 0), labels)
    assert np.allclose(image.affine, study.affine)


def test_report_json_holds_the_measures_and_the_model_outputs():
    study = tiny_phantom()
    run = models.ModelRun(model="m", task="events", segmentation=None, function=cardiac_function(study),
                          events={"ed_frame": 0, "es_frame": 2, "frame_scores": np.eye(4, 3)})
    opened = studies.OpenedStudy(key="k", label="example", study=study)
    report = json.loads(views.report_json(run, opened))
    assert report["lv_ef_pct"] == pytest.approx(run.function.lv_ef_pct)
    assert report["events"]["frame_scores"][1] == [0.0, 1.0, 0.0]
    assert report["shape"] == list(study.shape) and report["truth"]["lv_ef_pct"] == study.truth["lv_ef_pct"]


# --- models ------------------------------------------------------------------------------------------------
def test_the_zoo_lists_the_default_model_with_its_metrics():
    infos = {info.name: info for info in models.available_models()}
    assert "default" in infos and infos["default"].task == "segmentation"
    rows = models.metric_rows(infos["default"].metrics)
    assert any(row["metric"] == "dice_lv_ed" for row in rows)


def test_only_a_weak_volume_map_measured_below_the_mark_is_flagged():
    if models.explain_module is None:
        pytest.skip(f"cardiolab.explain is missing ({models.EXPLAIN_MISSING})")
    infos = {info.name: info for info in models.available_models()}
    bundled = models.own_map_trust(infos["lv_volume_weak"])  # read from the checkpoint's map_dice_lv (0.00)
    assert bundled is not None and not bundled.trustworthy and "not yet meaningful" in bundled.reason
    assert models.own_map_trust(infos["default"]) is None  # explained by Grad-CAM: no own map to judge
    retrained = replace(infos["lv_volume_weak"], metrics={**infos["lv_volume_weak"].metrics, "map_dice_lv": 0.75})
    assert models.own_map_trust(retrained).trustworthy  # a better checkpoint lifts the flag by itself


def test_reference_run_measures_the_study_labels():
    study = tiny_phantom()
    run = models.reference_run(study)
    assert run.labelled_frames == list(range(study.n_frames))
    assert run.function.lv_ef_pct == pytest.approx(cardiac_function(study).lv_ef_pct)
    one_frame = models.reference_run(study.frames([0]))
    assert one_frame.function is None and "one frame" in one_frame.notes[0]
    assert models.reference_run(CineStudy(image=study.image, spacing=study.spacing)) is None  # no labels


def test_the_app_never_unpickles():
    source = "\n".join(path.read_text() for path in (PROJECT_ROOT / "webapp").rglob("*.py"))
    assert "import pickle" not in source and "torch.load(" not in source and "load_bundle_file" not in source


def test_server_settings_bind_to_localhost_and_limit_uploads():
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    assert 0 < config["server"]["maxUploadSize"] <= 1024
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    app_recipe = makefile.split("\napp:", 1)[1].split("\n\n", 1)[0]
    assert "streamlit run webapp/app.py" in app_recipe
    assert "--server.port 8501" in app_recipe and "--server.address localhost" in app_recipe


# --- the app, through AppTest ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=600)  # generous: the CPU may be shared
    at.session_state["example"] = EXAMPLE  # widget values before the first run
    at.session_state["example_size"] = SMALL
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric_value(at, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert len(values) == 1, f"expected one {label!r} tile, found {[m.label for m in at.metric]}"
    return values[0]


def image_captions(at) -> list[str]:
    return [caption for image in at.get("image") for caption in image.captions]


def test_lvef_tile_is_near_the_phantom_truth(app):
    truth = app.session_state["study"].study.truth
    shown = metric_value(app, "LVEF")
    assert shown.endswith(" %")
    assert float(shown.split()[0]) == pytest.approx(truth["lv_ef_pct"], abs=EF_TOLERANCE_PCT)
    for label, unit in (("LVEDV", "ml"), ("LVESV", "ml"), ("LVSV", "ml"), ("LV mass", "g"), ("RVEF", "%")):
        assert metric_value(app, label).endswith(f" {unit}")
    assert any(c.value.startswith("Truth (phantom): LVEF 20.0 %") for c in app.caption)


def test_frame_and_slice_sliders_change_the_picture(app):
    app.slider(key="viewer_frame").set_value(3).run()
    app.slider(key="viewer_slice").set_value(2).run()
    assert not app.exception
    study = app.session_state["study"].study
    assert any(re.match(rf"frame 3\b.*\({study.frame_times_ms[3]:.0f} ms\), slice 2: default$", caption)
               for caption in image_captions(app)), image_captions(app)
    app.toggle(key="viewer_play").set_value(True).run()  # playing: every redraw shows the next frame
    assert any(caption.startswith("frame 4") for caption in image_captions(app)), image_captions(app)
    app.toggle(key="viewer_play").set_value(False).run()


def test_function_page_reads_the_ranges_and_offers_downloads(app):
    app.switch_page("app_pages/function.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert float(metric_value(app, "LVEF").split()[0]) < 55
    assert any("Reduced ejection fraction" in e.value for e in app.error)
    labels = {button.label for button in app.get("download_button")}
    assert labels == {"Report (JSON)", "Measures (CSV)", "Volumes per frame (CSV)", "Segmentation (NIfTI)"}
    run = app.session_state["runs"][(app.session_state["study"].key, "default")]
    report = json.loads(views.report_json(run, app.session_state["study"]))
    assert f"{report['lv_ef_pct']:.1f} %" == metric_value(app, "LVEF")


def test_compare_page_scores_the_model_against_the_reference_labels(app):
    app.switch_page("app_pages/compare.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.selectbox(key="compare_b").value == models.REFERENCE
    study = app.session_state["study"].study
    run = app.session_state["runs"][(app.session_state["study"].key, "default")]
    lv_dice = []
    for t in range(study.n_frames):  # Dice by hand, as an independent check of the tile
        predicted, reference = run.segmentation[t] == LV_CAVITY, study.labels[t] == LV_CAVITY
        lv_dice.append(2 * (predicted & reference).sum() / (predicted.sum() + reference.sum()))
    assert metric_value(app, "Dice LV") == f"{np.mean(lv_dice):.3f}"


def test_explain_page_runs_or_says_what_is_missing(app):
    app.switch_page("app_pages/explain.py").run()
    assert not app.exception, [e.value for e in app.exception]
    if models.explain_module is None:
        assert any("cardiolab.explain" in info.value for info in app.info)
    else:
        assert any(caption.startswith("Grad-CAM of LV cavity") for caption in image_captions(app)), image_captions(app)
        assert not app.error
        assert not any("self-explaining map" in warning.value for warning in app.warning)  # Grad-CAM: no such flag


def test_course_page_lists_the_notebooks(app):
    app.switch_page("app_pages/course.py").run()
    assert not app.exception
    from webapp import material

    shown = " ".join(m.value for m in app.markdown)
    for folder in (material.COURSE, material.NOTEBOOKS):
        for notebook in material.notebooks(folder):
            assert notebook.title in shown


def test_course_readme_links_are_reduced_to_their_text(tmp_path):
    from webapp import material

    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "README.md").write_text(
        "| 1 | [The heart](01_heart.ipynb) |\nsee [the site](https://example.org) and [below](#prerequisites)")
    text = material.readme("course", root=tmp_path)
    assert "| 1 | The heart |" in text  # a file link cannot be followed inside the app
    assert "[the site](https://example.org)" in text and "[below](#prerequisites)" in text
    assert material.readme("nowhere", root=tmp_path) is None


def test_broken_upload_shows_an_error_and_the_app_keeps_running(app):
    app.switch_page("app_pages/analyse.py").run()  # the landing page: the uploader is there, no click needed
    assert any("Upload limit: 200 MB" in c.value for c in app.caption)
    app.file_uploader(key="upload").set_value(("broken.nii.gz", b"\x1f\x8b not really gzip", "application/gzip"))
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    errors = [e.value for e in app.error]
    assert any("Could not open the study: broken.nii.gz" in e for e in errors), errors
    app.switch_page("app_pages/analyse.py").run()  # the previous study is still there, and analysed
    assert not app.exception
    assert metric_value(app, "LVEF").endswith(" %")
    assert app.session_state["study"].label.startswith("example:")


def test_a_good_upload_replaces_the_study(app, tmp_path):
    app.switch_page("app_pages/course.py").run()  # a page that runs no model
    study = tiny_phantom()
    app.file_uploader(key="upload").set_value(("cine.nii.gz", nifti_bytes(study, tmp_path), "application/gzip"))
    app.run()
    assert not app.exception
    opened = app.session_state["study"]
    assert opened.label == "upload: cine.nii.gz" and opened.study.shape == study.shape
    assert "load_error" not in app.session_state


def test_explain_page_shows_the_weak_volume_models_own_map(app):
    assert "lv_volume_weak" in {info.name for info in models.available_models()}  # the zoo ships one
    app.session_state["model"] = "lv_volume_weak"
    try:
        app.switch_page("app_pages/explain.py").run()
        assert not app.exception, [e.value for e in app.exception]
        assert not app.error, [e.value for e in app.error]
        captions = image_captions(app)
        assert any(caption.startswith("the model's own map of LV volume") for caption in captions), captions
        explanation = next(value for key, value in app.session_state["explanations"].items() if key[1] == "lv_volume_weak")
        assert explanation.cam.shape == app.session_state["study"].study.image.shape[1:]
        assert 0.0 <= explanation.cam.min() and explanation.cam.max() <= 1.0  # a probability map, not a rescaled score
    finally:
        app.session_state["model"] = "default"


def test_explain_page_warns_that_the_weak_volume_models_own_map_is_not_yet_meaningful(app):
    if models.explain_module is None:
        pytest.skip(f"cardiolab.explain is missing ({models.EXPLAIN_MISSING})")
    app.session_state["model"] = "lv_volume_weak"
    try:
        app.switch_page("app_pages/explain.py").run()
        assert not app.exception, [e.value for e in app.exception]
        warnings = [warning.value for warning in app.warning]
        flagged = [text for text in warnings if "lv_volume_weak's self-explaining map is not yet meaningful" in text]
        assert len(flagged) == 1, warnings
        assert "Dice of 0.00" in flagged[0] and "0.72" in flagged[0], flagged  # the checkpoint's figure vs the thesis'
        captions = image_captions(app)
        assert any(caption.startswith("the model's own map of LV volume") and caption.endswith("(not yet meaningful)")
                   for caption in captions), captions
    finally:
        app.session_state["model"] = "default"
