"""The notebook viewer in a real browser: JupyterLab serves a notebook that makes the widget,
Chromium (driven by Playwright) runs it, moves the acceleration and sees the LF-PSNR change.

The test starts its own JupyterLab (127.0.0.1, a free port, a token, a temporary root folder
and temporary Jupyter settings) and stops it, with the kernels it started, whatever happens.
Jobs run as they do for a user: in the kernel's worker thread, results applied on its loop.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from lfmri_viewer.jobs import SYNC_ENV

pytestmark = [pytest.mark.gui, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDGET_NOTEBOOK = "viewer.ipynb"
WIDGET_CODE = """\
from lfmri_viewer.jupyter import LFMRIWidget, teaching
viewer = LFMRIWidget("PD", methods=("zero-filled",))
viewer.controller.set_slice(teaching.most_annotated_slice(viewer.controller))
viewer"""
LF_PSNR_CELL = '.lfmri-readouts td[data-column="LF-PSNR (dB)"]'
NUMBER = re.compile(r"^-?\d+\.\d\d$")


@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    root: Path
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_serving(lab: Lab, process: subprocess.Popen[bytes], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter-lab exited with {process.returncode}:\n{lab.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status?token={lab.token}", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"jupyter-lab did not answer within {timeout_s:.0f} s:\n{lab.log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server (it shuts its kernels down), then anything left in its process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the group is the server's own (start_new_session)
    except ProcessLookupError:
        pass


@pytest.fixture
def lab(tmp_path: Path, sample_paths: list[Path]) -> Iterator[Lab]:
    executable = Path(sys.executable).parent / "jupyter-lab"
    if not executable.exists():
        pytest.fail(f"{executable} is missing: the browser test needs jupyterlab in this environment")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(ROOT / "examples" / "teaching.ipynb", root / "teaching.ipynb")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(WIDGET_CODE)], metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}})
    nbformat.write(notebook, root / WIDGET_NOTEBOOK)

    env = dict(os.environ)  # LFMRI_CACHE: this run's sample (sample_paths)
    env.pop(SYNC_ENV, None)
    home = tmp_path / "jupyter"
    env.update(OMP_NUM_THREADS="1", JUPYTER_PLATFORM_DIRS="1", JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), IPYTHONDIR=str(home / "ipython"))
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path / "jupyter-lab.log"
    server = Lab(url=f"http://127.0.0.1:{port}", token=token, root=root, log=log)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(executable), "--no-browser", "--ip", "127.0.0.1", "--port", str(port), "--port-retries", "0",
             f"--IdentityProvider.token={token}", "--allow-root", f"--ServerApp.root_dir={root}",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    try:
        wait_until_serving(server, process)
        yield server
    finally:
        stop(process)


def run_first_cell(page: Page) -> None:
    """Run the active notebook's first cell with its toolbar button, as a user would; a click
    that lands while the page is still settling is lost, so retry until the prompt shows it ran."""
    panel = page.locator(".jp-NotebookPanel").filter(visible=True)
    cell = panel.locator(".jp-CodeCell").first
    cell.wait_for(timeout=60_000)
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(4):
        try:
            prompt.click(timeout=10_000)
            panel.locator("[data-command='notebook:run-cell-and-select-next']").first.click(timeout=10_000)
            expect(prompt).to_have_text(re.compile(r"\[(\*|\d+)\]"), timeout=15_000)
            return
        except (AssertionError, PlaywrightTimeoutError):
            continue
    pytest.fail("the notebook's cell did not start running")


def test_moving_the_acceleration_changes_the_lf_psnr_in_the_browser(lab: Lab, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package for the browser test")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        try:
            # ?reset: a fresh workspace, so this notebook is the only one open while it runs
            page.goto(f"{lab.url}/lab/tree/{WIDGET_NOTEBOOK}?reset&token={lab.token}")
            # the status bar speaks of the active notebook: its kernel has started
            page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).first.wait_for(timeout=90_000)
            run_first_cell(page)

            lf_psnr = page.locator(LF_PSNR_CELL).first
            page.wait_for_function(
                f"() => /^-?\\d+\\.\\d\\d$/.test(document.querySelector('{LF_PSNR_CELL}')?.textContent ?? '')",
                timeout=180_000)
            before = lf_psnr.text_content()
            assert before is not None and NUMBER.match(before)

            slider = page.locator(".widget-slider", has=page.locator("label", has_text="acceleration")).first
            readout = slider.locator(".widget-readout")
            assert readout.text_content() == "4.0"
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("8")
            page.keyboard.press("Enter")
            page.wait_for_function(
                f"(old) => {{ const t = document.querySelector('{LF_PSNR_CELL}')?.textContent ?? '';"
                f" return /^-?\\d+\\.\\d\\d$/.test(t) && t !== old; }}",
                arg=before, timeout=180_000)
            after = lf_psnr.text_content()
            assert after is not None and NUMBER.match(after) and after != before
            assert readout.text_content() == "8.0"
            # the job's end comes through the kernel's loop just after its last result
            expect(page.locator(".widget-label", has_text="reconstruct slice").first).to_contain_text(
                "done", timeout=30_000)
            page.screenshot(path=str(tmp_path / "browser.png"), full_page=True)

            # The teaching notebook is served beside it and renders.
            page.goto(f"{lab.url}/lab/tree/teaching.ipynb?reset&token={lab.token}")
            page.get_by_role("heading", name="Accelerated MRI, lesion by lesion").first.wait_for(timeout=90_000)
        except Exception:
            page.screenshot(path=str(tmp_path / "browser.png"), full_page=True)
            raise
        finally:
            browser.close()
