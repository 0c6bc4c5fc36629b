"""Two editions of the course from one source: solutions (the chapters as committed) and learner.

An exercise is two code cells in a chapter: its answer, tagged `solution`, whose metadata `stub` holds
what a learner starts from instead, and right after it the cell tagged `check`, which fails on the stub
with a hint and passes on a right answer. The learner edition is made from the solutions edition by
nbconvert preprocessors (`learner()`); nothing in it is written by hand.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert.preprocessors import ClearMetadataPreprocessor, ClearOutputPreprocessor, Preprocessor

SOLUTION, CHECK = "solution", "check"
CELL_TIMEOUT = 180
KERNEL = "python3"


def kernel_metadata() -> dict:
    """What JupyterLab writes into a notebook's metadata once its kernel starts: the kernelspec as the
    server names it, and the kernel's `language_info`. A `language_info` that differs (another Python
    version) makes JupyterLab mark the notebook unsaved (tests/test_first_contact.py, in Chromium), so
    the learner edition carries this machine's (issue 17)."""
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(KERNEL)
    return {
        "kernelspec": {"display_name": spec.display_name, "language": spec.language, "name": KERNEL},
        "language_info": copy.deepcopy(IPythonKernel.language_info),
    }


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


class StubAnswers(Preprocessor):
    """Each cell tagged `solution` becomes its stub (the cell's metadata `stub`)."""

    def preprocess_cell(self, cell, resources, index):
        if SOLUTION in tags(cell):
            cell.source = cell.metadata["stub"]
        return cell, resources


def learner(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The learner edition of a chapter: answers stubbed, no outputs (they would show the answers)."""
    notebook = copy.deepcopy(notebook)
    resources: dict = {}
    preprocessors = (
        StubAnswers(),
        ClearOutputPreprocessor(),
        # Tags stay (they mark the exercises); execution timings and the stubs themselves go.
        ClearMetadataPreprocessor(
            preserve_cell_metadata_mask=["tags"], preserve_nb_metadata_mask=["kernelspec", "language_info"]
        ),
    )
    for preprocessor in preprocessors:
        notebook, resources = preprocessor.preprocess(notebook, resources)
    notebook.metadata.update(nbformat.from_dict(kernel_metadata()))  # this machine's kernel: opens unmodified
    return notebook


@dataclass(frozen=True)
class Exercise:
    solution: int  # index of the answer cell
    check: int  # index of the check cell


def exercises(notebook: nbformat.NotebookNode) -> list[Exercise]:
    found = []
    for index, cell in enumerate(notebook.cells):
        if SOLUTION in tags(cell):
            check = next(i for i in range(index + 1, len(notebook.cells)) if CHECK in tags(notebook.cells[i]))
            found.append(Exercise(index, check))
    return found


def attempt(path: Path, answers: list[str], exercise: int = 0) -> list[str | None]:
    """Run a chapter up to an exercise's answer cell once, then each answer followed by the check.

    For each answer: None when the check passed, else the error it raised ("AssertionError: hint").
    """
    notebook = nbformat.read(path, as_version=4)
    found = exercises(notebook)[exercise]
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        resources={"metadata": {"path": str(path.parent)}},
    )
    outcomes: list[str | None] = []
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells[: found.solution]):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        check = notebook.cells[found.check].source
        for answer in answers:
            outcome = None
            for source in (answer, check):
                try:
                    client.execute_cell(nbformat.v4.new_code_cell(source), found.check)
                except CellExecutionError as error:
                    outcome = f"{error.ename}: {error.evalue}"
                    break
            outcomes.append(outcome)
    return outcomes
