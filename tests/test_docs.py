"""The docs cannot rot: README.md and docs/*.md are checked against the repository.

- every relative link and image points to a file that exists, and every `#anchor` to a heading of the
  page it names (GitHub's anchors);
- every command they show that runs one of the project's own entry points (`manage.py COMMAND`,
  `python -m generator COMMAND`, `python -m analysis COMMAND`, `python -m phantoms`, another module of
  the project with a `main`, `scripts/NAME`, a `.py` file of the repository) names a command that exists
  and only options its parser accepts. The parsers are built, never run: Django's management commands
  through `load_command_class(...).create_parser`, the generator's and the analysis' through their
  `build_parser` / `_parser`, and a module's or a script's `main` up to its `parse_args`;
- the README stays a front page: under 10 KiB.

Commands are read from fenced code blocks (not ```python ones) and from inline code spans that start
with an entry point. A synopsis may bracket options (`[--seed N]`); values and placeholders are not
checked, only the option names.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import re
import runpy
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_LIMIT = 10_240

FENCE = re.compile(r"^(\s*)(```|~~~)(.*)$")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def rel(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


# --- reading a page ---------------------------------------------------------------------------------


def split_page(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str, str]]]:
    """(prose lines, code blocks): prose as (line number, line); blocks as (first line, language, text)."""
    prose: list[tuple[int, str]] = []
    blocks: list[tuple[int, str, str]] = []
    fence: str | None = None
    language, start, body = "", 0, []
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence, language, start, body = match.group(2), match.group(3).strip().lower(), number, []
        elif fence is not None and match and match.group(2) == fence and not match.group(3).strip():
            blocks.append((start, language, "\n".join(body)))
            fence = None
        elif fence is not None:
            body.append(line)
        else:
            prose.append((number, line))
    return prose, blocks


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: markup dropped, lower case, punctuation removed, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    prose, _ = split_page(page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose:
        match = HEADING.match(line)
        if not match:
            continue
        anchor = github_anchor(match.group(2))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def links(page: Path) -> Iterator[tuple[int, str]]:
    prose, _ = split_page(page.read_text(encoding="utf-8"))
    for number, line in prose:
        for target in LINK.findall(CODE_SPAN.sub("", line)):
            yield number, target


def broken_links(page: Path) -> list[str]:
    problems = []
    for number, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        where = f"{rel(page)}:{number}: {target}"
        if not resolved.exists():
            problems.append(f"{where}: no such file {rel(resolved)}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{where}: no heading with the anchor #{anchor} in {rel(resolved)}")
    return problems


# --- finding the project's commands -----------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    where: str  # page:line
    text: str  # as written (one logical line)
    kind: str  # "manage", "module", "script"
    target: str  # command name, module name or script path
    args: tuple[str, ...]


SEPARATORS = re.compile(r"\s(?:&&|\|\||;|\||&)\s|\$\(|`|\)\s*$")
PYTHON = re.compile(r"^(?:\S*/)?python(?:3(?:\.\d+)?)?$")


def logical_lines(block: str) -> Iterator[tuple[int, str]]:
    """A block's lines with `# comments` dropped and continuations joined, with their offsets: a line
    ending in `\\`, and a synopsis' indented next line that starts with an option (`    [--alpha A]`)."""
    lines: list[tuple[int, str]] = []
    continued = False
    for offset, line in enumerate(block.splitlines()):
        line = re.sub(r"(^|\s)#.*$", "", line).rstrip()
        follows = continued or (lines and re.match(r"^\s+[\[-]", line))
        continued = line.endswith("\\")
        line = line.removesuffix("\\")
        if follows and lines:
            lines[-1] = (lines[-1][0], f"{lines[-1][1]} {line.strip()}")
        else:
            lines.append((offset, line))
    yield from lines


def tokens(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:  # an unbalanced quote in a synopsis
        return text.split()


def parse_command(words: list[str]) -> tuple[str, str, list[str]] | None:
    """(kind, target, arguments) when the words run one of the project's entry points, else None."""
    words = list(words)
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):  # VAR=value
        words.pop(0)
    if words[:1] == ["nice"]:
        words.pop(0)
        if words[:1] == ["-n"]:
            del words[:2]
    if words[:1] == ["torchrun"]:  # torchrun's own options, then -m MODULE
        words = ["python", *words[words.index("-m") :]] if "-m" in words else []
    if words[:1] in (["bash"], ["sh"]):
        words.pop(0)
    if not words:
        return None
    if PYTHON.match(words[0]):
        words.pop(0)
        if not words:
            return None
        if words[0] == "-m" and len(words) > 1:
            module = words[1]
            if module.split(".")[0] in {"generator", "analysis", "phantoms", "survey", "manifest"}:
                return "module", module, words[2:]
            return None
        words[0] = words[0].removeprefix("./")
        if words[0] == "manage.py":
            return ("manage", words[1], words[2:]) if len(words) > 1 else None
        if words[0].endswith(".py") and not words[0].startswith("/"):
            return "script", words[0], words[1:]
        return None
    first = words[0].removeprefix("./")
    if first == "manage.py":
        return ("manage", words[1], words[2:]) if len(words) > 1 else None
    if first.startswith("scripts/"):
        return "script", first, words[1:]
    return None


def commands_in(page: Path) -> Iterator[Command]:
    text = page.read_text(encoding="utf-8")
    prose, blocks = split_page(text)
    candidates: list[tuple[int, str]] = []
    for start, language, body in blocks:
        if language in {"python", "py", "json", "yaml", "toml"}:
            continue
        for offset, line in logical_lines(body):
            candidates.append((start + 1 + offset, line))
    for number, line in prose:
        for _, span in CODE_SPAN.findall(line):
            candidates.append((number, span))
    for number, line in candidates:
        for part in SEPARATORS.split(line):
            found = parse_command(tokens(part.strip()))
            if found:
                kind, target, args = found
                yield Command(f"{rel(page)}:{number}", part.strip(), kind, target, tuple(args))


def option_names(args: tuple[str, ...]) -> list[str]:
    """The option names a synopsis uses: `[--seed N]` -> --seed, `--device=cpu` -> --device."""
    names = []
    for word in args:
        for piece in re.split(r"[\[\]()|,]", word):
            piece = piece.strip()
            if re.match(r"^--[A-Za-z][\w-]*", piece):
                names.append(piece.split("=")[0])
            elif re.match(r"^-[A-Za-z]$", piece):
                names.append(piece)
    return names


def positionals(args: tuple[str, ...]) -> list[str]:
    return [w for w in args if not w.startswith(("-", "["))]


# --- the parsers, built without running anything ----------------------------------------------------


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def _capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
    raise _Captured(self)


def parser_of_main(run) -> argparse.ArgumentParser:  # noqa: ANN001
    """The parser a `main` builds: it is stopped at its first parse_args, before doing anything."""
    with (
        mock.patch.object(argparse.ArgumentParser, "parse_args", _capture),
        mock.patch.object(argparse.ArgumentParser, "parse_known_args", _capture),
        mock.patch.object(sys, "argv", ["prog"]),
    ):
        try:
            run()
        except _Captured as captured:
            return captured.parser
    raise AssertionError("its main never parsed its arguments")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    return set(parser._option_string_actions)


def module_parser(module: str) -> argparse.ArgumentParser:
    if module == "generator":
        pytest.importorskip("torch")
        from generator.cli import build_parser

        return build_parser()
    if module == "analysis":
        from analysis.cli import _parser

        return _parser()
    if module.startswith("generator"):
        pytest.importorskip("torch")
    try:
        loaded = importlib.import_module(module)
    except ImportError as error:
        if getattr(error, "name", None) == "torch" or "torch" in str(error):
            pytest.skip(f"{module} needs torch")
        raise
    main = getattr(loaded, "main", None)
    if main is None:
        loaded = importlib.import_module(f"{module}.__main__")
        main = loaded.main
    return parser_of_main(main)


def script_parser(path: Path) -> argparse.ArgumentParser:
    return parser_of_main(lambda: runpy.run_path(str(path), run_name="__main__"))


def manage_parser(name: str) -> argparse.ArgumentParser | None:
    from django.core.management import get_commands, load_command_class

    app = get_commands().get(name)
    if app is None:
        return None
    return load_command_class(app, name).create_parser("manage.py", name)


def problems_of(command: Command) -> list[str]:
    where = f"{command.where}: {command.text}"
    names = option_names(command.args)
    if command.kind == "manage":
        parser = manage_parser(command.target)
        if parser is None:
            return [f"{where}: manage.py has no command {command.target!r}"]
    elif command.kind == "module":
        top = command.target
        if importlib.util.find_spec(top) is None:
            return [f"{where}: no module {top!r}"]
        parser = module_parser(top)
        subs = subcommands(parser)
        if subs:
            words = positionals(command.args)
            if not words or words[0] == "..." or words[0].isupper():
                return []  # `python -m generator`, `python -m generator ...` or `... COMMAND`: no command named
            if words[0] not in subs:
                return [f"{where}: python -m {top} has no command {words[0]!r} (it has {', '.join(sorted(subs))})"]
            parser = subs[words[0]]
    else:
        path = REPO / command.target
        if not path.is_file():
            return [f"{where}: no such file {command.target}"]
        if not names or path.suffix != ".py":
            return []  # shell scripts (scripts/test passes its arguments to pytest) or no options
        parser = script_parser(path)
    accepted = options_of(parser)
    return [f"{where}: {name} is not an option of it" for name in names if name not in accepted]


ALL_COMMANDS = [command for page in PAGES for command in commands_in(page)]


# --- the tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_relative_link_and_image_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_pages_show_the_projects_commands() -> None:
    """The finder itself works: each kind of entry point is found on the pages."""
    kinds = {(c.kind, c.target.split(".")[0] if c.kind == "module" else "") for c in ALL_COMMANDS}
    assert {
        ("manage", ""),
        ("module", "generator"),
        ("module", "analysis"),
        ("module", "phantoms"),
        ("script", ""),
    } <= kinds


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: f"{c.where} {c.kind} {c.target}")
def test_every_command_exists_with_the_options_it_is_shown_with(command: Command) -> None:
    assert problems_of(command) == []


def test_a_wrong_option_or_command_is_caught() -> None:
    """The checks above would fail on a mistake, not pass everything."""
    from django.core.management import get_commands  # noqa: F401  (Django is set up by pytest-django)

    wrong = [
        Command("x", "", "manage", "fill_pool", ("SLUG", "--checkpoint", "C", "--per-disorders", "5")),
        Command("x", "", "manage", "no_such_command", ()),
        Command("x", "", "module", "analysis", ("report", "E", "--json", "O", "--margins", "0.1")),
        Command("x", "", "module", "analysis", ("reprot", "E")),
        Command("x", "", "module", "phantoms", ("OUT", "[--per-klass", "N]")),
        Command("x", "", "script", "scripts/no_such_script", ()),
    ]
    for command in wrong:
        assert problems_of(command), command
    right = Command("x", "", "module", "phantoms", ("OUT", "--per-class", "N", "[--spread", "F]"))
    assert problems_of(right) == []


def test_links_to_a_missing_file_or_heading_are_caught(tmp_path: Path) -> None:
    page = tmp_path / "probe.md"
    operations = os.path.relpath(REPO / "docs" / "operations.md", tmp_path)
    page.write_text(
        f"# Probe\n\n[a](nowhere.md) [b]({operations}#no-such-heading) [c](#probe) "
        f"[d]({operations}#running-it) ![e](screenshots/none.jpg) `[f](nowhere.md)`\n",
        encoding="utf-8",
    )
    problems = broken_links(page)
    assert len(problems) == 3, problems


def test_github_anchors() -> None:
    assert github_anchor("Settings (environment variables)") == "settings-environment-variables"
    assert github_anchor("4. Invite the experts") == "4-invite-the-experts"
    assert github_anchor("`participants`") == "participants"
    assert (
        github_anchor('The paper\'s category-3 "p = 0.001": which test it can and cannot be')
        == "the-papers-category-3-p--0001-which-test-it-can-and-cannot-be"
    )


def test_the_readme_is_a_front_page() -> None:
    size = (REPO / "README.md").stat().st_size
    assert size <= README_LIMIT, f"README.md is {size} bytes; move detail into a page under docs/"
