"""Analyse: run the chosen model on the study; headline numbers, curves, the segmentation."""
import streamlit as st

from webapp import ui, views

opened = ui.page_header("Analyse")
info, device = ui.chosen_model()
if info is None:
    st.stop()
ui.model_card(info)

run = ui.ensure_run(info.name, device)
if run is not None:
    st.caption(f"{info.name} ran in {run.runtime_s:.1f} s on {device}.")
    if run.function is not None:
        ui.function_tiles(run.function, opened.study.truth)
        st.plotly_chart(views.volume_curves_figure({info.name: run.function}))
    for note in run.notes:
        st.info(note)
    ui.prediction_summary(run, opened.study)

st.subheader("Temporal segmentation")
ui.segmentation_viewer(opened.study, [run] if run is not None and run.segmentation is not None else [])
