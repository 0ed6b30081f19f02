"""The cardiolab web app (Streamlit).

Run it with ``make app`` or ``streamlit run webapp/app.py``. The code is split the way
a reader should meet it:

* ``app.py``: the entry point: page set-up, the sidebar (which study, which model) and
  the list of pages (``st.navigation``).
* ``app_pages/*.py``: one short script per page (Analyse, Function, Explain, Compare,
  Course). They only lay out widgets and call the functions below.
* ``studies.py``: opening a study: bundled phantom examples, uploads (each in its own
  temporary folder, zips extracted safely), paths on the server. No Streamlit.
* ``models.py``: the model zoo as the app sees it: list, model card, load, run, measure,
  explain. No Streamlit.
* ``views.py``: pictures and tables: the image with its label overlay, the CAM overlay,
  volume-time curves, metric tiles, Dice between two segmentations. No Streamlit.
* ``ui.py``: the Streamlit pieces the pages share (study and model pickers, running a
  model with a progress bar, the slice/frame viewer) and the session state.
* ``serve.py`` / ``browser.py``: start the app on a free local port and drive it from a
  headless browser (used by the end-to-end tests and ``benchmarks/bench_app.py``).
"""
