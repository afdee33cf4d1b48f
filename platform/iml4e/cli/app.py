"""The root `iml4e` command and the one place where errors become messages and exit codes."""

from __future__ import annotations

import traceback
from typing import Any

import click
import typer
from typer.core import TyperGroup

from iml4e import __version__, console
from iml4e.errors import Iml4eError

_options = {"verbose": False}


def _exit_code_for(exc: BaseException) -> int:
    return exc.exit_code if isinstance(exc, Iml4eError) else 1


def _unexpected_message(exc: BaseException) -> str:
    """One line for a bug: what happened and where its traceback was kept (the crash log), so a bug
    report needs no rerun."""
    from iml4e.local.state import write_crash_log

    first = str(exc).splitlines()[0] if str(exc).strip() else ""
    crash_log = write_crash_log(traceback.format_exc())
    where = (
        f"the traceback is in {crash_log} (attach it to a bug report)"
        if crash_log is not None
        else "rerun with --verbose for the traceback"
    )
    return f"unexpected {type(exc).__name__}: {first}; {where}"


class Iml4eGroup(TyperGroup):
    """Catches every error once: one line on stderr, an exit code, a traceback only with --verbose."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click Context
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException, click.ClickException, click.exceptions.Exit):
            raise
        except KeyboardInterrupt:
            console.error("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if _options["verbose"]:
                console.err.print(traceback.format_exc(), markup=False, highlight=False)
                if isinstance(exc, Iml4eError) and exc.details:
                    console.err.print(exc.details, markup=False, highlight=False)
            if isinstance(exc, Iml4eError):  # the platform's errors and the components' alike
                console.error(str(exc))
            else:
                console.error(_unexpected_message(exc))
            raise typer.Exit(_exit_code_for(exc)) from None


app = typer.Typer(
    cls=Iml4eGroup,
    name="iml4e",
    help="iml4e: an MLOps platform that runs on your laptop first and on any Kubernetes cluster after.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        console.print_data(f"iml4e {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks and task logs."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    _options["verbose"] = verbose


def _register_commands() -> None:
    """Each command module adds its commands; new capabilities add one line here."""
    from iml4e.cli import local_commands

    local_commands.register(app)
    from iml4e.cli import demo_command

    demo_command.register(app)
    from iml4e.cli import governance_commands

    governance_commands.register(app)
    from iml4e.cli import cluster_commands

    cluster_commands.register(app)
    from iml4e.cli import methodology_commands

    methodology_commands.register(app)
    from iml4e.cli import serving_commands

    serving_commands.register(app)
    from iml4e.cli import model_commands

    model_commands.register(app)
    from iml4e.cli import detect_commands

    detect_commands.register(app)
    from iml4e.cli import rollout_commands

    rollout_commands.register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    from iml4e_components.conventions import quiet_libraries
    from iml4e_components.output_files import remove_temporaries_on_sigterm

    remove_temporaries_on_sigterm()
    quiet_libraries()
    app(prog_name="iml4e")


if __name__ == "__main__":  # pragma: no cover
    main()
