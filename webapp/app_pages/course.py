"""Course: the guided course and the paper notebooks that go with this app."""
import streamlit as st

from webapp import material

st.title("Course")
st.markdown("The app shows the results; the course and the notebooks show how they are made. Open them with "
            "Jupyter from the project folder (`jupyter lab course/`, `jupyter lab notebooks/`), run a paper "
            "notebook end to end with `cardiolab notebooks run NAME`, or download one below.")

SECTIONS = [(material.COURSE, "The guided course", "course/README.md"),
            (material.NOTEBOOKS, "The paper notebooks", "notebooks/README.md")]
for folder, heading, readme_name in SECTIONS:
    st.subheader(heading)
    found = material.notebooks(folder)
    if not found:
        st.info(f"No notebooks in `{folder}/` beside the app.")
    for notebook in found:
        relative = notebook.path.relative_to(material.PROJECT_ROOT)
        left, right = st.columns([4, 1])
        left.markdown(f"**{notebook.title}**  \n`{relative}`")
        right.download_button("Download", lambda path=notebook.path: path.read_bytes(), notebook.path.name,
                              "application/x-ipynb+json", key=f"download_{relative}")
    text = material.readme(folder)
    if text:
        with st.expander(readme_name):
            st.markdown(text)
