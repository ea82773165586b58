"""MkDocs hooks: pages that are generated from the repository instead of written by hand.

- ``models.md``: the table of every registered name, from ``keras_vit/model_index.json`` (the
  file ``keras-vit list`` reads; a test keeps it equal to the live registry).
- ``benchmarks/index.md``: the list of result files that the benchmark scripts wrote into
  ``docs/benchmarks/``, with the date and machine line each file starts with.
"""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_TABLE = "<!-- model-table -->"
BENCHMARK_FILES = "<!-- benchmark-files -->"


def _model_table():
    with open(os.path.join(ROOT, "keras_vit", "model_index.json"), encoding="utf-8") as f:
        rows = json.load(f)
    lines = ["| name | family | parameters | input | default weights | all weights tags |",
             "| --- | --- | ---: | --- | --- | --- |"]
    for row in sorted(rows, key=lambda r: (r["family"], r["parameters"], r["name"])):
        size = "x".join(str(s) for s in row["input_size"])
        tags = ", ".join(f"`{t}`" for t in row["weights"]) or "-"
        default = f"`{row['default_weights']}`" if row["default_weights"] else "-"
        lines.append(f"| `{row['name']}` | {row['family']} | {row['parameters']:,} | {size} | {default} | {tags} |")
    return "\n".join(lines)


def _stamp_line(path):
    """The first line of a result file that says when and where it ran (``Run:`` ...)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.lower().startswith(("run:", "*run:", "_run:")):
                return line.strip().strip("*_")
    return "no run stamp"


def _benchmark_files():
    folder = os.path.join(ROOT, "docs", "benchmarks")
    files = sorted(f for f in os.listdir(folder) if f.endswith(".md") and f != "index.md")
    if not files:
        return "No result file yet: run a script below and it writes one here."
    return "\n".join(f"- [{name[:-3]}]({name}): {_stamp_line(os.path.join(folder, name))}" for name in files)


def on_page_markdown(markdown, page, config, files):
    if MODEL_TABLE in markdown:
        markdown = markdown.replace(MODEL_TABLE, _model_table())
    if BENCHMARK_FILES in markdown:
        markdown = markdown.replace(BENCHMARK_FILES, _benchmark_files())
    return markdown
