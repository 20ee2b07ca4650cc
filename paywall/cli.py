"""The `paywall` console script: Flask's CLI with this app and its commands (paywall.commands)."""

from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup

from paywall import create_app
from paywall.errors import PaywallError
from paywall.settings import ConfigError


def _cli() -> FlaskGroup:
    return FlaskGroup(create_app=lambda: create_app(), help="The paywall command.")


def main() -> None:
    """Console script. Bad input ends with one clear line on stderr and a non-zero exit."""
    try:
        _cli().main(standalone_mode=False, prog_name="paywall")
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as error:
        click.echo(f"paywall: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except (ConfigError, PaywallError) as error:
        click.echo(f"paywall: {error}", err=True)
        sys.exit(1)
