"""The Streamlit pieces every page shares, and the session state they keep.

Session state (one browser tab = one session):

``st.session_state["study"]``      the `OpenedStudy` on screen
``st.session_state["runs"]``       ``{(study key, model name): ModelRun}``: a model runs once
                                   per study; every redraw after that reads this cache
``st.session_state["explanations"]``  ``{(study key, model, frame, target): Explanation}``
``st.session_state["load_error"]`` the message of the last study that could not be opened

Shared resources: the loaded models (`cached_predictor`, ``st.cache_resource``: loaded
once per server, reused by every session) and the session's upload folder
(`upload_space`, a session-scoped resource removed when the session ends).
"""
from __future__ import annotations

import streamlit as st

from cardiolab import zoo
from cardiolab.clinical import curve_ejection_fraction_pct
from cardiolab.data import CineLoadError
from webapp import models, studies, views

PLAY_STEP_S = 0.25  # seconds per frame while playing through the cycle
SOURCES = ["Example", "Server path"]  # besides the uploader, which is always in view


# --- shared resources ---------------------------------------------------------------------------
@st.cache_resource(scope="session", on_release=lambda space: space.cleanup(), show_spinner=False)
def upload_space() -> studies.UploadSpace:
    """This session's upload folder; Streamlit calls ``cleanup`` when the session ends."""
    return studies.UploadSpace()


@st.cache_resource(show_spinner="Loading the model ...")
def cached_predictor(name: str):
    return models.load_predictor(name)


@st.cache_resource(show_spinner=False)
def model_list() -> list[models.ModelInfo]:
    return models.available_models()


def model_info(name: str) -> models.ModelInfo | None:
    return next((info for info in model_list() if info.name == name), None)


# --- the study ------------------------------------------------------------------------------------
def current_study() -> studies.OpenedStudy | None:
    return st.session_state.get("study")


def set_study(opened: studies.OpenedStudy) -> None:
    """Show a new study: forget the analyses and explanations of the previous one."""
    st.session_state["study"] = opened
    st.session_state["display_window"] = views.display_window(opened.study.image)
    st.session_state["runs"] = {k: v for k, v in st.session_state.get("runs", {}).items() if k[0] == opened.key}
    st.session_state["explanations"] = {}
    st.session_state.pop("load_error", None)


def upload_limit_text() -> str:
    upload_mb = st.get_option("server.maxUploadSize")
    return (f"Upload limit: {upload_mb} MB per file (server.maxUploadSize); zip contents at most "
            f"{studies.MAX_UNZIPPED_BYTES // 1024**2} MB and {studies.MAX_ZIP_FILES} files. "
            "Larger studies: give a server path.")


def study_picker() -> None:
    """Sidebar: upload a study (always in view), or open an example or a server path.

    Whatever the user did last wins: an upload opens when new files arrive, an example
    when it is picked (or on the first visit: the embedded default), a server path when
    its button is pressed. Errors are shown, never raised.
    """
    st.header("Study")
    try:
        upload_box()
        st.caption("Or open")
        source = st.radio("Or open", SOURCES, key="source", horizontal=True, label_visibility="collapsed",
                          on_change=lambda: st.session_state.pop("load_error", None))
        if source == "Example":
            example_picker()
        else:
            path = st.text_input("File or folder on the server", key="server_path",
                                 help="for studies larger than the upload limit; NIfTI, DICOM folder, zip, ACDC folder")
            if st.button("Open", key="open_path"):
                with st.spinner("Reading ..."):
                    set_study(studies.open_server_path(path, upload_space()))
    except CineLoadError as error:
        st.session_state["load_error"] = str(error)
    if st.session_state.get("load_error"):
        st.error(f"Could not open the study: {st.session_state['load_error']}")
    if current_study() is None:  # first visit: the example picked (by default the embedded default)
        open_chosen_example()
    st.caption(f"Open: **{current_study().label}**")


def upload_box() -> None:
    """The file uploader: a study of one's own (NIfTI, DICOM files, or a zip of a DICOM folder)."""
    files = st.file_uploader("Upload a cine study: NIfTI (3D/4D), DICOM files, or a zip of a DICOM folder or "
                             "an ACDC patient folder", accept_multiple_files=True, key="upload")
    st.caption(upload_limit_text())
    if not files:
        return
    key = "upload:" + ",".join(file.file_id for file in files)
    if _is_current(key) or st.session_state.get("failed_key") == key:
        return
    st.session_state["failed_key"] = key  # tried once: a bad file is not re-read every rerun
    with st.spinner("Reading the upload ..."):
        opened = studies.open_uploads([(file.name, file.getvalue()) for file in files], upload_space())
    opened.key = key
    set_study(opened)


def example_picker() -> None:
    """Example phantoms: picking one (or another size) opens it."""
    name = st.selectbox("Example (phantom with known truth)", list(studies.EXAMPLES), key="example",
                        on_change=_request_example)
    st.selectbox("Size", list(studies.EXAMPLE_SIZES), key="example_size", on_change=_request_example)
    st.caption(studies.EXAMPLES[name].description)
    if st.session_state.pop("example_requested", False) or st.button("Open the example", key="open_example"):
        open_chosen_example()


def _request_example() -> None:
    st.session_state["example_requested"] = True


def open_chosen_example() -> None:
    name = st.session_state.get("example", studies.DEFAULT_EXAMPLE)
    size = st.session_state.get("example_size", studies.DEFAULT_SIZE)
    if not _is_current(f"example:{name}:{size}"):
        with st.spinner("Drawing the phantom ..."):
            set_study(studies.open_example(name, size))


def _is_current(key: str) -> bool:
    opened = current_study()
    return opened is not None and opened.key == key


def page_header(title: str) -> studies.OpenedStudy:
    """Page title, the study on screen, and the last loading error (if any)."""
    st.title(title)
    opened = current_study()
    if st.session_state.get("load_error"):
        st.warning(f"The last study could not be opened (the sidebar says why); still showing {opened.label}.")
    study = opened.study
    spacing = " x ".join(f"{s:.2f}" for s in study.spacing)
    st.caption(f"**{opened.label}**: {study.n_frames} frames x {study.n_slices} slices x {study.shape[2]} x "
               f"{study.shape[3]} pixels; spacing (z, y, x) {spacing} mm")
    reader_warnings(opened.notes)
    return opened


def reader_warnings(notes: list[str]) -> None:
    """What the reader had to assume or work around (the study's provenance warnings), in one box."""
    if not notes:
        return
    lines = "\n".join(f"- {note}" for note in notes)
    st.warning(f"**How this study was read** ({len(notes)} warning{'s' if len(notes) > 1 else ''}): the values "
               f"below rest on these choices.\n{lines}", icon=":material/info:")


# --- the model --------------------------------------------------------------------------------------
def model_picker() -> None:
    """Sidebar: which zoo model, on which device."""
    st.header("Model")
    infos = model_list()
    if not infos:
        st.error("The model zoo is empty: no model to run.")
        return
    tasks = {info.name: info.task for info in infos}
    st.selectbox("Model from the zoo", list(tasks), key="model", format_func=lambda name: f"{name} ({tasks[name]})")
    st.selectbox("Device", models.available_devices(), key="device")


def chosen_model() -> tuple[models.ModelInfo | None, str]:
    return model_info(st.session_state.get("model", "")), st.session_state.get("device", "cpu")


def model_card(info: models.ModelInfo) -> None:
    """The model card and its measured metrics (validation or held-out, as the checkpoint says), folded away."""
    with st.expander(f"Model card: {info.name} ({info.model_name}, {info.task})"):
        if info.training:
            st.caption(f"Trained on: {info.training.get('data', 'n/a')}; "
                       f"reproduce with `{info.training.get('command', 'n/a')}`")
        st.markdown(info.card or "_This model has no card._")
        rows = models.metric_rows(info.metrics)
        if rows:
            st.markdown(f"**Measured accuracy**: {zoo.metrics_kind(info.training or {})}, from the checkpoint")
            st.dataframe(rows, hide_index=True)


def ensure_run(name: str, device: str) -> models.ModelRun | None:
    """The run of model ``name`` on the current study: from the session cache, or run now
    with a progress bar. Errors are shown, not raised."""
    opened = current_study()
    runs = st.session_state.setdefault("runs", {})
    key = (opened.key, name)
    if key in runs:
        return runs[key]
    if name == models.REFERENCE:
        runs[key] = models.reference_run(opened.study)
        return runs[key]
    bar = st.progress(0.0, text=f"Running {name} ...")

    def show_progress(done: int, total: int) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=f"Running {name}: {done} of {total}")

    try:
        predictor = cached_predictor(name)
        runs[key] = models.run_model(predictor, name, opened.study, device=device, progress=show_progress)
    except Exception as error:  # a model failing on a strange study must not take the app down
        st.error(f"{name} could not analyse this study: {type(error).__name__}: {error}")
        return None
    finally:
        bar.empty()
    return runs[key]


# --- showing results ------------------------------------------------------------------------------------
def function_tiles(function, truth: dict | None = None) -> None:
    """The six metric tiles with their readings; the phantom's truth below them."""
    columns = st.columns(6)
    for column, tile in zip(columns, views.metric_tiles(function)):
        column.metric(tile.label, tile.value, delta=tile.reading, delta_color=tile.colour, delta_arrow="off",
                      help=tile.help, border=True)
    line = views.truth_line(truth or {})
    if line:
        st.caption(line)


def prediction_summary(run: models.ModelRun, study) -> None:
    """What a model that does not segment predicts: ED/ES events, per-frame indices, volumes."""
    if run.events:
        st.markdown(f"**Events**: ED at frame {run.events.get('ed_frame')}, ES at frame {run.events.get('es_frame')}")
        scores = run.events.get("frame_scores")
        if scores is not None:
            classes = run.events.get("classes") or [f"class {i}" for i in range(len(scores[0]))]
            scores = {str(name): [row[i] for row in scores] for i, name in enumerate(classes)}
            for figure in views.series_figures(scores, study.frame_times_ms):
                st.plotly_chart(figure)
    if run.indices:
        volume = run.indices.get("lv_volume_ml")
        ef_pct = curve_ejection_fraction_pct(volume) if volume is not None else None
        if ef_pct is not None:
            st.markdown(f"**LV ejection fraction from the predicted volume curve**: "
                        f"{views.format_value(ef_pct, '%')} (largest {max(volume):.1f} ml, smallest {min(volume):.1f} ml)")
        for figure in views.series_figures(run.indices, study.frame_times_ms):
            st.plotly_chart(figure)
        if "phase" in run.indices:
            st.dataframe([{"frame": t, "phase": phase} for t, phase in enumerate(run.indices["phase"])], hide_index=True)


def clamp_state(key: str, high, default) -> None:
    """Keep a widget's stored value inside its range (a new study may have fewer frames)."""
    value = st.session_state.get(key, default)
    st.session_state[key] = min(max(value, 0), high)


def segmentation_viewer(study, runs: list, key: str = "viewer") -> None:
    """Frame and slice sliders, overlay opacity, structure toggles, play; one picture per run.

    The pictures are redrawn in a fragment, so moving a slider reruns this function only,
    not the page, and the image is a small RGB array, not a figure.
    """
    frame_key, slice_key = f"{key}_frame", f"{key}_slice"
    clamp_state(frame_key, study.n_frames - 1, study.ed_frame or 0)
    clamp_state(slice_key, study.n_slices - 1, study.n_slices // 2)
    st.session_state.setdefault(f"{key}_opacity", 0.4)
    playing = st.toggle("Play through the cycle", key=f"{key}_play", disabled=study.n_frames < 2)
    window = st.session_state["display_window"]
    zoom = views.zoom_factor(study.shape[2])
    events = runs[0].function if runs and runs[0] is not None and runs[0].function else study

    @st.fragment(run_every=PLAY_STEP_S if playing else None)
    def draw() -> None:
        if playing:
            st.session_state[frame_key] = (st.session_state[frame_key] + 1) % study.n_frames
        controls, pictures = st.columns([1, 2])
        frame = controls.slider("Frame (cardiac phase)", 0, max(study.n_frames - 1, 1), key=frame_key,
                                disabled=study.n_frames < 2)
        z = controls.slider("Slice", 0, max(study.n_slices - 1, 1), key=slice_key, disabled=study.n_slices < 2)
        frame, z = min(frame, study.n_frames - 1), min(z, study.n_slices - 1)
        opacity = controls.slider("Overlay opacity", 0.0, 1.0, step=0.05, key=f"{key}_opacity")
        shown = [label for name, label in views.STRUCTURE_LABELS.items()
                 if controls.checkbox(name, value=True, key=f"{key}_show_{name}")]
        tag = {events.ed_frame: " ED", events.es_frame: " ES"}.get(frame, "")
        time_ms = study.frame_times_ms[frame]
        for column, run in zip(pictures.columns(max(len(runs), 1)), runs or [None]):
            labels = run.segmentation[frame, z] if run is not None and frame in run.labelled_frames else None
            picture = views.overlay_rgb(study.image[frame, z], labels, window, opacity, shown, zoom)
            source = "no labels" if labels is None else run.model
            column.image(picture, caption=f"frame {frame}{tag} ({time_ms:.0f} ms), slice {z}: {source}")

    draw()
