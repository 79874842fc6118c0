"""Sphinx extension of the PDF build (tools/book_pdf.py): the `singlehtml` builder writes every node `html` does.

Extensions register how to write their nodes per builder name, most for `html` only (myst-nb's hidden code
cell, sphinx-design's dropdowns and tabs, the theme's side notes, ...). Sphinx uses the `html` writers for
`singlehtml` only when no extension registered any `singlehtml` writer, and sphinx-exercise does: without
this extension the PDF build stops at the first such node ("unknown node type: HideCodeCellNode").
Once every extension is set up, each `html` writer that `singlehtml` lacks is lent to it.
"""


def lend_html_writers(app):
    writers = app.registry.translation_handlers
    single = writers.setdefault("singlehtml", {})
    for node, visit_depart in writers.get("html", {}).items():
        single.setdefault(node, visit_depart)


def setup(app):
    app.connect("builder-inited", lend_html_writers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
