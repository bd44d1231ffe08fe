"""``lit-actmax completion bash|zsh``: a small shell completion script for every subcommand.

Subcommands, then per subcommand its options: each light subcommand's own ``--help`` is read for them (so a new
option completes without a list to update), ``fit`` and ``atlas`` complete the common options of
:mod:`lit_actmax.cli.fit_help` and, after ``--config``, the names of the shipped configs. A few kilobytes, where
jsonargparse's completion of LightningCLI was tens of megabytes.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from typing import Callable, Sequence

from .fit_help import COMMON_OPTIONS
from .named_configs import config_names

__all__ = ["completion_command", "subcommand_options", "completion_script"]

#: Subcommands whose options are fit's (LightningCLI).
FIT_LIKE = ("fit", "atlas")


def subcommand_options(name: str, run: Callable[[Sequence[str]], int] | None) -> list[str]:
    """The long options of subcommand ``name``: fit's common ones, or those its ``--help`` prints."""
    options = [re.match(r"--[\w.]+", option).group(0) for option, _ in COMMON_OPTIONS] + ["--help"]
    if name in FIT_LIKE or run is None:
        return sorted(set(options + (["--help-all"] if name == "fit" else [])))
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        run(["--help"])
    return sorted(set(re.findall(r"^\s+(?:-\w, )?(--[a-z][\w-]*)", text.getvalue(), flags=re.M)) | {"--help"})


def completion_script(shell: str, options: dict[str, list[str]]) -> str:
    """A bash completion function for ``lit-actmax`` (zsh runs it through ``bashcompinit``)."""
    cases = "\n".join(f'        {name}) opts="{" ".join(opts)}" ;;' for name, opts in options.items())
    head = "autoload -U +X bashcompinit && bashcompinit\n" if shell == "zsh" else ""
    return f"""{head}# lit-actmax completion ({shell}): eval "$(lit-actmax completion {shell})"
_lit_actmax() {{
    local cur prev sub opts
    cur="${{COMP_WORDS[COMP_CWORD]}}"; prev="${{COMP_WORDS[COMP_CWORD-1]}}"; sub="${{COMP_WORDS[1]}}"
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=( $(compgen -W "{" ".join(options)} --help --version" -- "$cur") ); return
    fi
    if [ "$prev" = "--config" ] || [ "$prev" = "-c" ]; then
        COMPREPLY=( $(compgen -W "{" ".join(config_names())}" -- "$cur") $(compgen -f -- "$cur") ); return
    fi
    case "$sub" in
{cases}
        *) opts="--help" ;;
    esac
    if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts" -- "$cur") ); else COMPREPLY=( $(compgen -f -- "$cur") ); fi
}}
complete -F _lit_actmax lit-actmax
"""


def completion_command(argv: Sequence[str], subcommands: Sequence[str],
                       runners: dict[str, Callable[[Sequence[str]], int]] | None = None) -> int:
    """Print the completion script for the shell in ``argv`` (``bash`` or ``zsh``)."""
    shell = argv[0] if argv else "bash"
    if shell not in ("bash", "zsh"):
        print(f"lit-actmax: error: completion for {shell!r} is not available; use bash or zsh.", file=sys.stderr)
        return 2
    runners = runners or {}
    options = {name: subcommand_options(name, runners.get(name)) for name in subcommands if name != "completion"}
    options["completion"] = ["bash", "zsh"]
    print(completion_script(shell, options), end="")
    return 0
