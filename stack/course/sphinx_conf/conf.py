"""Sphinx settings for the course site (Jupyter Book 1's engine: Sphinx, MyST-NB, sphinx-book-theme).

`stack.course.book` writes the sources (the executed chapters, the index, the instructor guide, the
cited repository files) into build/book and runs sphinx-build with this folder as its configuration.
Everything the pages load is copied into the site: it is read offline, from file://.
"""

project = "JWT Authentication on SuperStack"
author = "superstack-jwt-course"
copyright = "the course's authors"
extensions = ["myst_nb", "sphinxcontrib.mermaid"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# The chapters were just executed against the live stack; the book only renders them.
nb_execution_mode = "off"
# No widgets in the course: without this every page would load require.js from a CDN.
nb_ipywidgets_js = {}
# ```mermaid fences in Markdown cells are diagrams, as in JupyterLab.
myst_fence_as_directive = ["mermaid"]
myst_heading_anchors = 3
# A file Pygments cannot lex whole (a SQL file with dollar-quoting) is still shown, highlighted where it can be.
suppress_warnings = ["myst.header", "misc.highlighting_failure"]

html_theme = "sphinx_book_theme"
html_title = project
html_last_updated_fmt = None
html_copy_source = False
html_theme_options = {
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "navigation_with_keys": True,
}

# mermaid's classic build, fetched from npm at build time into _static/ (browsers refuse an ES module
# import from file://, so stack.course.book turns the plugin's `import` into a plain <script>).
mermaid_version = ""
mermaid_use_local = "mermaid.min.js"
mermaid_init_config = {"startOnLoad": False, "securityLevel": "loose"}
mermaid_fullscreen = False


def setup(app):
    from stack.course.book import classic_mermaid

    app.connect("html-page-context", classic_mermaid, priority=900)
