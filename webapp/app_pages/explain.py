"""Explain: where does the model look? Grad-CAM (or the model's own map) over the image."""
import streamlit as st

from webapp import models, ui, views

opened = ui.page_header("Explain")
study = opened.study
info, device = ui.chosen_model()
if models.explain_module is None:
    st.info(f"Explanations need `cardiolab.explain`, which this installation lacks ({models.EXPLAIN_MISSING}).")
    st.stop()
if info is None:
    st.stop()

trust = models.own_map_trust(info)  # None: the model is explained by Grad-CAM
if trust is None:
    st.markdown("Grad-CAM weights the feature maps of one layer by how much they raise the chosen output, "
                "and shows where those maps are active. Red: the pixels that drove the output; blue: ignored.")
else:
    st.markdown("This model explains itself: it measures its volume on its own map of how likely each voxel is "
                "to be LV cavity, so that map, not Grad-CAM, is shown. Red: where the map is highest (scaled to its "
                "maximum in the frame); blue: near 0.")
    if trust.trustworthy:
        st.caption(f"{info.name}'s own map is {trust.reason}.")
    else:
        st.warning(f"**{info.name}'s self-explaining map is {trust.reason}.** Until a retrained checkpoint "
                   "measures better, read it as where the model puts volume, not as a segmentation.",
                   icon=":material/warning:")
targets = models.explanation_targets(info)
left, right = st.columns(2)
target = left.selectbox("Explain", list(targets), format_func=lambda key: targets[key], key="explain_target")
ui.clamp_state("explain_frame", study.n_frames - 1, study.es_frame if study.es_frame is not None else 0)
frame = right.slider("Frame", 0, max(study.n_frames - 1, 1), key="explain_frame", disabled=study.n_frames < 2)
frame = min(frame, study.n_frames - 1)

cache = st.session_state.setdefault("explanations", {})
key = (opened.key, info.name, frame, target)
if key not in cache:
    try:
        with st.spinner(f"Explaining {targets[target]} at frame {frame} ..."):
            cache[key] = models.explain(ui.cached_predictor(info.name), study, frame, target, device=device)
    except Exception as error:  # an unsupported model or target: say so, keep the app alive
        st.error(f"No explanation for {info.name}: {type(error).__name__}: {error}")
        st.stop()
explanation = cache[key]
method = models.METHOD_NAMES.get(explanation.method, explanation.method)
st.caption(f"Method: {method}; layer: {explanation.layer}; target: {explanation.target}")

ui.clamp_state("explain_slice", study.n_slices - 1, study.n_slices // 2)
z = st.slider("Slice", 0, max(study.n_slices - 1, 1), key="explain_slice", disabled=study.n_slices < 2)
z = min(z, study.n_slices - 1)
opacity = st.slider("Map opacity", 0.0, 1.0, 0.6, 0.05, key="explain_opacity")
window, zoom = st.session_state["display_window"], views.zoom_factor(study.shape[2])
run = st.session_state.get("runs", {}).get((opened.key, info.name))
labels = run.segmentation[frame, z] if run is not None and run.segmentation is not None else None
image_column, map_column = st.columns(2)
image_column.image(views.overlay_rgb(study.image[frame, z], labels, window, 0.35, zoom=zoom),
                   caption=f"frame {frame}, slice {z}" + (f": {info.name} segmentation" if labels is not None else ""))
map_column.image(views.heatmap_rgb(study.image[frame, z], explanation.cam[z], window, opacity, zoom=zoom),
                 caption=f"{method} of {targets[target]}, frame {frame}, slice {z}"
                         + ("" if trust is None or trust.trustworthy else " (not yet meaningful)"))
