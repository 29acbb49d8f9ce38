"""`bloodtrace din check`: the parts of an ISBT 128 DIN, or what is wrong with it."""

from __future__ import annotations

import typer

from cli._output import console, fail, print_json
from infra.errors import InvalidIdentifier
from models.isbt128 import parse_din


def register(app: typer.Typer) -> None:
    din_app = typer.Typer(help="ISBT 128 Donation Identification Numbers.", no_args_is_help=True)
    app.add_typer(din_app, name="din")

    @din_app.command("check")
    def check(
        code: str = typer.Argument(..., help="A DIN, with or without its check character."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Print the facility, year, sequence and check character of a DIN (exit 0), or say
        what is wrong with it (exit 1). Accepts 13 characters, 14 with the check character, or
        the barcode form `=` + DIN + 2 flag digits."""
        try:
            din = parse_din(code)
        except InvalidIdentifier as exc:
            if as_json:
                print_json({"valid": False, **exc.to_dict()})
                raise typer.Exit(1) from exc
            fail(exc)
        if as_json:
            print_json(
                {
                    "valid": True,
                    "din": din.code,
                    "facility": din.facility,
                    "year": din.year,
                    "sequence": din.sequence,
                    "check_character": din.check,
                    "check_flag": din.check_flag,
                    "eye_readable": din.full,
                }
            )
            return
        console.print(f"DIN              {din.code}")
        console.print(f"facility         {din.facility}")
        console.print(f"year             {din.year}")
        console.print(f"sequence         {din.sequence}")
        console.print(f"check character  {din.check}  (barcode flag {din.check_flag})")
        console.print(f"eye-readable     {din.full}")
