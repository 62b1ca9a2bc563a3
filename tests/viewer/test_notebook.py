"""``examples/teaching.ipynb`` runs top to bottom in a kernel of this environment, and what it
shows is what the session controller computes."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import nbclient
import nbformat
import pytest

from lfmri_viewer.controller import SessionController
from lfmri_viewer.formatting import READOUT_COLUMNS, readout_cells
from lfmri_viewer.jobs import SYNC_ENV
from lfmri_viewer.jupyter import teaching
from lfmri_viewer.settings import ReconSettings

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "teaching.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CELL_HANG_GUARD_S = 1800
"""Not a speed limit (the notebook takes about a minute on two cores, and no test here times it):
a cell that hangs fails the test instead of blocking CI until its own limit."""


def outputs(cell: Any) -> list[dict[str, Any]]:
    return [o for o in cell.get("outputs", []) if o["output_type"] in ("display_data", "execute_result")]


def table_rows(markup: str) -> list[dict[str, str]]:
    """The body rows of a table written by ``lfmri_viewer.jupyter._tables.html_table``."""
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", markup.split("<tbody>", 1)[1]):
        cells = re.findall(r'<td data-column="([^"]*)">(.*?)</td>', row)
        rows.append({html.unescape(column): html.unescape(text) for column, text in cells})
    return rows


@pytest.mark.slow
def test_teaching_notebook_runs_and_shows_the_controllers_numbers(
    sample_paths: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The kernel inherits this environment: the sample of this run (sample_paths set
    # LFMRI_CACHE) and synchronous jobs, so every widget is complete when its cell ends.
    monkeypatch.setenv(SYNC_ENV, "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=CELL_HANG_GUARD_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on an error

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    assert not [o for cell in code for o in cell.outputs if o["output_type"] == "error"]
    pngs = [o for cell in code for o in outputs(cell) if "image/png" in o["data"]]
    assert len(pngs) == 3  # aliasing, mask types, failure gallery
    views = [o for cell in code for o in outputs(cell) if WIDGET_VIEW in o["data"]]
    assert len(views) == 3  # CompareView, FailureCasesView, LFMRIWidget
    text = "".join(o.get("text", "") for cell in code for o in cell.outputs if o["output_type"] == "stream")
    assert "slices with lesion boxes" in text

    # The readout table of the comparison is the controller's, string for string.
    (table,) = [o["data"]["text/html"] for cell in code for o in outputs(cell)
                if "lfmri-readouts" in o["data"].get("text/html", "")]
    rows = table_rows(table)
    assert [r["method"] for r in rows] == ["zero-filled", "cs-tv", "unet", "lfmri"]
    assert all(list(r) == list(READOUT_COLUMNS) for r in rows)
    session = SessionController(ReconSettings(acceleration=8.0, center_fraction=0.04, methods=("zero-filled", "lfmri")))
    session.open(sample_paths[0])
    session.set_slice(teaching.most_annotated_slice(session))
    session.reconstruct_slice()
    for expected in (readout_cells(r) for r in session.readouts().values()):
        (shown,) = [r for r in rows if r["method"] == expected["method"]]
        expected.pop("time (ms)"), shown.pop("time (ms)")
        assert shown == expected
        assert expected["LF-PSNR (dB)"] != "–"
