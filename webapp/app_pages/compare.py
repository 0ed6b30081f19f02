"""Compare: two models (or a model and the study's own labels) on the same study."""
import streamlit as st

from webapp import models, ui, views

opened = ui.page_header("Compare")
choices = [info.name for info in ui.model_list()]
if opened.study.labels:
    choices.append(models.REFERENCE)  # the labels the study came with: phantom truth, ACDC's ED/ES
if len(choices) < 2:
    st.info("Comparing needs two models, or a study with reference labels; this study and zoo give one.")
    st.stop()

left, right = st.columns(2)
current = st.session_state.get("model", choices[0])
name_a = left.selectbox("Model A", choices, index=choices.index(current) if current in choices else 0, key="compare_a")
name_b = right.selectbox("Model B", choices, index=len(choices) - 1, key="compare_b")
if name_a == name_b:
    st.info("Choose two different models.")
    st.stop()
device = st.session_state.get("device", "cpu")
run_a, run_b = ui.ensure_run(name_a, device), ui.ensure_run(name_b, device)
if run_a is None or run_b is None:
    st.stop()

st.plotly_chart(views.volume_curves_figure({name_a: run_a.function, name_b: run_b.function}))
rows = []
for label, field, unit in views.TILES:
    value_a = getattr(run_a.function, field, None) if run_a.function else None
    value_b = getattr(run_b.function, field, None) if run_b.function else None
    both = value_a is not None and value_b is not None
    rows.append({"measure": label, name_a: views.format_value(value_a, unit), name_b: views.format_value(value_b, unit),
                 "A - B": views.format_value(value_a - value_b if both else None, unit)})
st.dataframe(rows, hide_index=True)

if run_a.segmentation is not None and run_b.segmentation is not None:
    frames = sorted(set(run_a.labelled_frames) & set(run_b.labelled_frames))
    dice_rows = views.dice_by_frame(run_a.segmentation, run_b.segmentation, frames)
    st.subheader("Dice between the two segmentations")
    for column, (structure, value) in zip(st.columns(3), views.mean_dice(dice_rows).items()):
        column.metric(f"Dice {structure}", f"{value:.3f}", help=f"mean over {len(frames)} frames")
    st.dataframe(dice_rows, hide_index=True, column_config={name: st.column_config.NumberColumn(format="%.4f")
                                                          for name in views.STRUCTURE_LABELS})
    ui.segmentation_viewer(opened.study, [run_a, run_b], key="compare_viewer")
