"""Function: the clinical report of the segmentation: tiles, ranges, bull's-eye, QC, downloads."""
import streamlit as st

from cardiolab.clinical import aha_bullseye_figure, to_csv, volumes_csv
from webapp import ui, views

opened = ui.page_header("Function")
info, device = ui.chosen_model()
run = ui.ensure_run(info.name, device) if info is not None else None
if run is None or run.function is None:
    st.info("No function to report: the model gave no segmentation of two or more frames. "
            + " ".join(run.notes if run else []))
    st.stop()
function = run.function

ui.function_tiles(function, opened.study.truth)
if function.reduced_lvef:
    st.error(f"Reduced ejection fraction: LVEF {views.format_value(function.lv_ef_pct, '%')} is below 55 % "
             "(the cut-off of seed 000).")
for flag in function.qc_flags:
    st.warning(f"QC ({flag['code']}): {flag['message']}")

st.plotly_chart(views.volume_curves_figure({info.name: function}, structures=("lv", "rv", "myo")))

left, right = st.columns(2)
if function.wall_thickness_ed_mm:
    left.plotly_chart(aha_bullseye_figure(function.wall_thickness_ed_mm, title="Wall thickness at ED (mm)"))
if function.systolic_thickening_mm:
    right.plotly_chart(aha_bullseye_figure(function.systolic_thickening_mm, title="Systolic thickening (mm)"))
if function.affected_segments:
    st.warning(f"Segments thickening less than 2 mm (affected): {function.affected_segments}")

st.subheader("All measures, with their normal ranges")
st.dataframe(views.measure_rows(function), hide_index=True)
for note in function.notes:
    st.caption(f"Note: {note}")

st.subheader("Download")
stem = f"cardiolab_{info.name}"
columns = st.columns(4)
columns[0].download_button("Report (JSON)", views.report_json(run, opened), f"{stem}_report.json", "application/json")
columns[1].download_button("Measures (CSV)", to_csv(function), f"{stem}_measures.csv", "text/csv")
columns[2].download_button("Volumes per frame (CSV)", volumes_csv(function), f"{stem}_volumes.csv", "text/csv")
columns[3].download_button("Segmentation (NIfTI)", lambda: views.segmentation_nifti_bytes(opened.study, run.segmentation),
                           f"{stem}_segmentation.nii.gz", "application/gzip")
