"""cardiolab web app: open a cine study, run a model from the zoo, read the heart's function.

    streamlit run webapp/app.py        (or: make app)

This entry point sets the page up, draws the sidebar (which study, which model: shared
by every page) and hands over to the chosen page in ``webapp/app_pages/``. The server
settings (localhost only, upload limit) are in ``.streamlit/config.toml``.
"""
import sys
from pathlib import Path

# `streamlit run webapp/app.py` puts webapp/ on the path, not the project: add it so the
# pages can `from webapp import ...` like any other package.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import streamlit as st

from webapp import ui

st.set_page_config(page_title="cardiolab", page_icon=":material/cardiology:", layout="wide")

PAGES = [
    st.Page("app_pages/analyse.py", title="Analyse", icon=":material/monitor_heart:", default=True),
    st.Page("app_pages/function.py", title="Function", icon=":material/query_stats:"),
    st.Page("app_pages/explain.py", title="Explain", icon=":material/visibility:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("app_pages/course.py", title="Course", icon=":material/school:"),
]
page = st.navigation(PAGES)

with st.sidebar:
    ui.study_picker()
    ui.model_picker()

page.run()
