"""README.md: its Python code runs, its relative links exist, and its shell commands are real.

- every ```python block runs, in order, in one namespace, in a temporary working directory (matplotlib Agg);
- every relative link or image path (Markdown or HTML) points to a file or folder of the repository;
- a ```bash block shows ``forgrad-viz demo`` and one shows ``pytest``; every ``forgrad-viz`` command of the bash
  blocks parses with the real argument parser, ``pytest`` commands name existing paths and registered markers,
  and ``pip install .[extras]`` names extras that pyproject.toml defines.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```[ \t]*([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
MD_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
REF_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
HTML_LINK = re.compile(r"<(?:a|img|source)\b[^>]*?\b(?:href|src|srcset)\s*=\s*[\"']([^\"']+)[\"']", re.I)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.I)


def _readme() -> str:
    if not README.is_file():
        pytest.fail(f"{README} does not exist: the README is part of the project (write it)")
    return README.read_text(encoding="utf-8")


def _blocks(text: str, languages: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line number, code) of the fenced blocks in one of ``languages``."""
    return [
        (text.count("\n", 0, m.start()) + 2, m.group(2))
        for m in FENCE.finditer(text)
        if m.group(1).lower() in languages
    ]


def _commands(code: str) -> list[str]:
    """Shell command lines of a block: continuations joined, comments and ``$`` prompts removed."""
    joined = re.sub(r"\\\n", " ", code)
    lines = []
    for line in joined.splitlines():
        line = line.strip()
        line = line[1:].strip() if line.startswith("$ ") else line
        if line and not line.startswith("#"):
            lines.append(line.split(" #")[0].strip())
    return lines


def _argvs(command: str) -> list[list[str]]:
    """The simple commands of a line: split at ``&&``, ``||``, ``;``, ``|``, ``&``; redirections dropped."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    argvs: list[list[str]] = [[]]
    redirected = False
    for word in lexer:
        if word in ("&&", "||", ";", "|", "&"):
            argvs.append([])
            redirected = False
        elif word[0] in "<>" or redirected:
            if argvs[-1] and argvs[-1][-1].isdigit() and not redirected:
                argvs[-1].pop()  # the 2 of 2>file
            redirected = True
        else:
            argvs[-1].append(word)
    return [argv for argv in argvs if argv]


def test_readme_exists() -> None:
    assert _readme().strip(), "README.md is empty"


@pytest.mark.slow
def test_python_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _blocks(_readme(), ("python", "py"))
    assert blocks, "README.md has no ```python block"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FORGRAD_VIZ_QUICK", "1")
    matplotlib.use("Agg")
    namespace: dict = {"__name__": "__readme__"}
    import matplotlib.pyplot as plt

    try:
        for line, code in blocks:
            exec(compile(code, f"README.md, python block at line {line}", "exec"), namespace)
    finally:
        plt.close("all")


def _link_targets(text: str) -> list[str]:
    prose = FENCE.sub("", text)
    prose = re.sub(r"`[^`\n]*`", "", prose)  # inline code is not a link
    return MD_LINK.findall(prose) + REF_LINK.findall(prose) + HTML_LINK.findall(prose)


def test_relative_links_exist() -> None:
    targets = _link_targets(_readme())
    missing = []
    for target in targets:
        if EXTERNAL.match(target):
            continue
        path = target.split("#")[0].split("?")[0]
        if path and not (README.parent / path).exists():
            missing.append(target)
    assert not missing, f"README.md links to paths that do not exist: {missing}"


def test_link_checker_finds_links() -> None:
    """The link patterns catch Markdown links, images, references and HTML, and skip code and URLs."""
    sample = (
        "[a](docs/a.md) ![b](img/b.png \"t\") <img src='c.svg'>\n[d]: e/f.md\n"
        "`[x](not/a/link)` [web](https://x.org) [anchor](#top)\n```bash\n[y](in/code)\n```\n"
    )
    targets = _link_targets(sample)
    assert sorted(t for t in targets if not EXTERNAL.match(t)) == [
        "c.svg",
        "docs/a.md",
        "e/f.md",
        "img/b.png",
    ]


def _bash_commands() -> list[list[str]]:
    """Every simple command (as argv) of the README's shell blocks."""
    blocks = _blocks(_readme(), ("bash", "sh", "shell", "console"))
    return [argv for _, code in blocks for line in _commands(code) for argv in _argvs(line)]


def test_quickstart_commands_are_shown() -> None:
    commands = _bash_commands()
    assert any(argv[:2] == ["forgrad-viz", "demo"] for argv in commands), (
        "README.md needs a ```bash block with `forgrad-viz demo`"
    )
    assert any("pytest" in argv for argv in commands), "README.md needs a ```bash block with `pytest`"


def test_forgrad_viz_commands_parse() -> None:
    from forgrad_viz.cli import build_parser

    commands = [argv for argv in _bash_commands() if argv[0] == "forgrad-viz"]
    assert commands
    for argv in commands:
        if any("<" in word or "..." in word for word in argv):
            continue  # a template such as `--images <folder>`, not a runnable command
        try:
            build_parser().parse_args(argv[1:])
        except SystemExit as exit_:
            assert exit_.code == 0, f"`{shlex.join(argv)}` does not parse with forgrad-viz's parser"


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _markers() -> set[str]:
    config = _pyproject()
    return {m.split(":")[0].strip() for m in config["tool"]["pytest"]["ini_options"]["markers"]}


def test_pytest_commands_name_existing_paths_and_markers() -> None:
    commands = [argv for argv in _bash_commands() if "pytest" in argv[:3]]
    assert commands
    markers = _markers()
    for argv in commands:
        args = argv[argv.index("pytest") + 1 :]
        for i, word in enumerate(args):
            if i > 0 and args[i - 1] == "-m":
                names = set(re.findall(r"[A-Za-z_]\w*", word)) - {"and", "or", "not"}
                assert names <= markers, f"`{shlex.join(argv)}` uses unregistered markers {names - markers}"
            elif (
                not word.startswith("-")
                and not word.isdigit()
                and (i == 0 or args[i - 1] not in ("-k", "-p", "-n"))
            ):
                assert (ROOT / word.split("::")[0]).exists(), f"`{shlex.join(argv)}`: {word} does not exist"


def test_pip_extras_exist() -> None:
    config = _pyproject()
    extras = set(config["project"].get("optional-dependencies", {}))
    for argv in _bash_commands():
        if "pip" not in argv[:3] or "install" not in argv:
            continue
        for word in argv:
            found = re.fullmatch(r"\.\[([\w,\s-]+)\]", word)
            if found:
                wanted = {e.strip() for e in found.group(1).split(",")}
                assert wanted <= extras, (
                    f"`{shlex.join(argv)}` asks for extras {wanted - extras} not in pyproject.toml"
                )
