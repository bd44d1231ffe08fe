"""``ConfigArgumentParser``: LightningCLI's parser, with every config mistake as one sentence instead of a usage dump.

jsonargparse reports a wrong key, value, class path or file with the whole usage text and a nested message. This
parser raises :class:`~lit_actmax.errors.ConfigError` with one line instead: which file (when the key came from a
``--config`` file), which key, what is wrong, and the closest valid names. ``lit-actmax fit --help`` still prints
the full usage.
"""

from __future__ import annotations

import difflib
import importlib
import re
from pathlib import Path
from typing import Any, NoReturn, Sequence

import yaml

from ..errors import ConfigError
from ..lightning.package import LightningArgumentParser

__all__ = ["ConfigArgumentParser", "config_error_sentence"]

HELP = "see `lit-actmax fit --help`"


def config_files(args: Sequence[str]) -> list[str]:
    """The ``--config``/``-c`` files named in ``args``, in order."""
    files = []
    for i, arg in enumerate(args):
        if arg in ("--config", "-c") and i + 1 < len(args):
            files.append(args[i + 1])
        elif arg.startswith("--config="):
            files.append(arg.split("=", 1)[1])
    return files


def file_with_key(files: Sequence[str], key: str) -> str | None:
    """The last of ``files`` that sets the dotted ``key`` (the one that wins), or None."""
    return next((name for name in reversed(files) if has_key(name, key)), None)


def has_key(name: str, key: str) -> bool:
    """Whether the YAML file ``name`` sets the dotted ``key``."""
    try:
        node: Any = yaml.safe_load(Path(name).read_text())
    except (OSError, yaml.YAMLError):
        return False
    *parents, last = key.split(".")
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    return isinstance(node, dict) and last in node


def close_names(name: str, candidates: Sequence[str]) -> str:
    """`` (did you mean 'a' or 'b'?)`` for the candidates closest to ``name``, or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def close_keys(key: str, keys: Sequence[str]) -> str:
    """:func:`close_names` among the keys beside ``key`` (same parent), compared by their last part."""
    parent, _, last = key.rpartition(".")
    siblings = {k.rpartition(".")[2]: k for k in keys if k.rpartition(".")[0] == parent}
    close = difflib.get_close_matches(last, list(siblings), n=2, cutoff=0.7)
    return f" (did you mean {' or '.join(repr(siblings[c]) for c in close)}?)" if close else ""


def class_path_hint(class_path: str) -> str:
    """What is wrong with ``class_path`` ("module.Name"): a missing module, or the closest names in it."""
    module_name, _, attr = class_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return f"module {module_name!r} cannot be imported"
    public = [n for n in dir(module) if not n.startswith("_")]
    return f"{module_name} has no {attr!r}{close_names(attr, public)}"


def config_error_sentence(message: str, args: Sequence[str], keys: Sequence[str]) -> str:
    """One line for jsonargparse's ``message`` about the arguments ``args``; ``keys`` are the parser's valid keys."""
    files = config_files(args)
    unknown = re.search(r"does not accept option '([\w.]+)'", message) or re.search(r"unrecognized arguments: (--[\w.]+)", message)
    if unknown:
        key = unknown.group(1).lstrip("-")
        where = file_with_key(files, key)
        origin = f"{where}: " if where else ""
        return f"{origin}unknown key {key!r}{close_keys(key, keys)}; {HELP}."
    missing = re.search(r'Parser key "config": File does not exist: (.+)', message)
    if missing:
        return f"config file {missing.group(1).strip()} does not exist."
    if message.startswith("Problems parsing config"):
        detail = " ".join(line.strip() for line in message.splitlines()[1:] if line.strip())
        origin = next((f for f in files if _unparsable(f)), "a --config file")
        return f"{origin} is not valid YAML ({detail.replace(chr(34) + '<unicode string>' + chr(34) + ', ', '')})."
    key_error = re.match(r'Parser key "([\w.]+)":', message)
    if key_error:
        key = key_error.group(1)
        where = file_with_key(files, key)
        origin = f"{where}: " if where else ""
        bad_class = re.search(r"Problem with given class_path '([\w.]+)'", message)
        if bad_class:
            return f"{origin}{key}: class_path {bad_class.group(1)!r} does not exist ({class_path_hint(bad_class.group(1))})."
        given = re.search(r"Given value: (.+)", message)
        expected = sorted(set(re.findall(r"Expected a <class '([\w.]+)'>", message)))
        wanted = f"expected {' or '.join(expected)}" if expected else "invalid value"
        detail = "" if expected else f" ({' '.join(message.splitlines()[1:3]).strip()})"
        value = f", got {given.group(1).strip()!r}" if given else ""
        return f"{origin}{key}: {wanted}{value}{detail}; {HELP}."
    return f"{' '.join(message.split())}; {HELP}."


def _unparsable(name: str) -> bool:
    try:
        yaml.safe_load(Path(name).read_text())
    except yaml.YAMLError:
        return True
    except OSError:
        return False
    return False


def parser_keys(parser: Any) -> list[str]:
    """Every dotted key ``parser`` and its subcommands' parsers accept."""
    keys: list[str] = []
    for action in parser._actions:
        subparsers = getattr(action, "_name_parser_map", None)
        if subparsers:
            for subparser in subparsers.values():
                keys.extend(parser_keys(subparser))
        elif action.dest and action.dest not in ("help", "config"):
            keys.append(action.dest)
    return keys


class ConfigArgumentParser(LightningArgumentParser):
    """LightningCLI's parser; a parse error of the command line or of a config file raises one-sentence
    :class:`ConfigError` (jsonargparse's internal, non-exiting parses keep their own errors)."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error:
            super().error(message, ex)
        keys = parser_keys(self)
        raise ConfigError(config_error_sentence(message, list(getattr(self, "args", None) or []), keys)) from None
