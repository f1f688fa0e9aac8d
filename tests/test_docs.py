"""The README and docs/ say what is true of the repository: the two commands first, links and paths that exist,
commands that run, and no benchmark figures left in the code's comments (they live in docs/benchmarks.md)."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import textwrap
import tokenize
from pathlib import Path

import pytest

from bot.cli import parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE = ("bot", "handlers", "web", "presentation", "services", "payments", "storage", "emulator", "playground", "bench")
FOLDERS = (*CODE, "tests", "scripts", "docs", "requirements", "deploy")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
PATH = re.compile(rf"^(?:{'|'.join(FOLDERS)})/[\w./-]*$")
PYTHON_M = re.compile(r"python -m ([\w.]+)(.*)")
DAIFU = re.compile(r"^daifu( .*|$)")  # the console script: `daifu migrate`
MAKE = re.compile(r"^make (\w+)")
MADE_BY_RUNS = {"bench/results/"}  # ignored by git: the benchmark writes it


def ids(pages: list[Path]) -> list[str]:
    return [str(page.relative_to(ROOT)) for page in pages]


def anchors(page: Path) -> set[str]:
    """GitHub's ids for a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def code_spans(page: Path) -> list[str]:
    text = page.read_text()
    blocks = re.findall(r"^ *```[a-z]*\n(.*?)^ *```", text, re.MULTILINE | re.DOTALL)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return CODE_SPAN.findall(re.sub(r"^ *```.*?^ *```", "", text, flags=re.MULTILINE | re.DOTALL)) + lines


def test_the_readme_starts_with_the_two_commands() -> None:
    lines = README.read_text().splitlines()
    assert lines[0].startswith("# daifu"), "the README opens with its title"
    assert lines[1:3] == ["", "```sh"], "then, at once, the commands a newcomer runs"
    block = lines[3 : lines.index("```", 3)]
    assert [line.split("#")[0].strip() for line in block] == ["make run", "make test"]
    targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert {"run", "test"} <= set(targets)


def test_the_readme_is_a_front_page() -> None:
    """Figures, tables and reference live in docs/; the README says what daifu is and where to read on."""
    text = README.read_text()
    assert len(text.splitlines()) <= 100, "move the detail into a docs/ page and link it"
    assert "updates/s" not in text
    assert not [line for line in text.splitlines() if line.startswith("|")], "tables belong in docs/"


@pytest.mark.parametrize("page", PAGES, ids=ids(PAGES))
def test_relative_links_point_to_what_exists(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no such heading")
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=ids(PAGES))
def test_paths_named_in_code_exist(page: Path) -> None:
    named = [span for span in code_spans(page) if PATH.match(span)]
    assert [path for path in named if not (ROOT / path).exists() and path not in MADE_BY_RUNS] == []


def command_problems(span: str) -> list[str]:
    """What a command in the docs names that is not there: a make target, a module, a command, an option."""
    wrong = []
    makefile = (ROOT / "Makefile").read_text()
    wrong += [
        f"no make target {target}" for target in MAKE.findall(span) if not re.search(rf"^{target}:", makefile, re.M)
    ]
    # `daifu ...`, the console script, is `python -m bot ...`.
    for module, rest in [*PYTHON_M.findall(span), *(("bot", rest) for rest in DAIFU.findall(span))]:
        where = ROOT / module.replace(".", "/")
        if not (where / "__main__.py").exists() and not where.with_suffix(".py").exists():
            wrong.append(f"no module {module}")
            continue
        package = ROOT / module.split(".")[0]
        source = " ".join(path.read_text() for path in package.rglob("*.py"))
        if module == "bot":
            wrong += daifu_problems(rest)
        options = re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest)
        wrong += [
            f"{module} has no option {option}"
            for option in options
            if option != "--help" and f'"{option}"' not in source
        ]
    return wrong


def daifu_problems(rest: str) -> list[str]:
    """A command `python -m bot ...` (or `daifu ...`) names that bot.cli's parser does not have."""
    words = rest.split()
    if not words or not re.fullmatch(r"[a-z-]+", words[0]):
        return []
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            parser("daifu").parse_known_args([words[0], "--help"])
        except SystemExit as exit:
            return [] if exit.code == 0 else [f"daifu has no command {words[0]}"]
    return []


@pytest.mark.parametrize("page", PAGES, ids=ids(PAGES))
def test_commands_name_modules_options_and_targets_that_exist(page: Path) -> None:
    assert [f"{span}: {problem}" for span in code_spans(page) for problem in command_problems(span)] == []


def test_the_command_check_sees_a_command_that_is_not_there() -> None:
    assert command_problems("daifu frobnicate") == ["daifu has no command frobnicate"]
    assert command_problems("python -m bot run --webhooks") == ["bot has no option --webhooks"]
    assert command_problems("daifu apikey create Acme") == command_problems("python -m bot --webhook") == []


def test_the_callback_check_shown_to_shops_is_the_tested_one() -> None:
    text = (ROOT / "docs" / "shop-api.md").read_text()
    snippet = textwrap.dedent(re.findall(r"```python\n(.*?)^ *```", text, re.MULTILINE | re.DOTALL)[0])
    checked = (ROOT / "tests" / "api" / "test_callbacks.py").read_text()
    assert snippet[snippet.index("def verify") :] in checked


# A timing in ms or µs, a share of the CPU, a ratio like 2.5x: a benchmark's figure, which dates as the code moves.
FIGURE = re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|µs)\b|\d\s?% of [^.]*\bCPU\b|\b\d+\.\d+x\b")


def remarks(path: Path) -> list[tuple[int, str]]:
    """The comments and docstrings of a module, with their line numbers."""
    source = path.read_text()
    found = [
        (token.start[0], token.string)
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node, clean=False)
            if docstring:
                found.append((node.body[0].lineno, docstring))
    return found


def test_comments_quote_no_benchmark_figures() -> None:
    figures = [
        f"{path.relative_to(ROOT)}:{line}: {figure.group()}"
        for folder in CODE
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "migrations" not in path.parts
        for line, text in remarks(path)
        if (figure := FIGURE.search(text))
    ]
    comments = [line for line in (ROOT / "pyproject.toml").read_text().splitlines() if line.strip().startswith("#")]
    figures += [f"pyproject.toml: {line.strip()}" for line in comments if FIGURE.search(line)]
    assert figures == [], "say why in the comment; put the figure in docs/benchmarks.md"


def test_the_figure_check_sees_a_figure() -> None:
    assert FIGURE.search("# httpx took 0.6 ms a call")
    assert FIGURE.search("Babel took 1.5 % of the bot's CPU")
    assert not FIGURE.search("# Telegram gives up after 10 s")
