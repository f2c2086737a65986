"""``accord db``: setting a store up for the logins Accord runs as."""

from __future__ import annotations

from typing import Annotated

import typer

from accord.commands._support import JsonOption, load_settings, out, run
from accord.platform.errors import BadInput
from accord.platform.migrations.bootstrap import bootstrap_store, login_of
from accord.platform.settings import mask_url

db_app = typer.Typer(
    help="The store's logins and roles (run once per store, with an admin login).",
    no_args_is_help=True,
)


@db_app.command("bootstrap")
def db_bootstrap(
    admin_url: Annotated[
        str,
        typer.Option(
            "--admin-url",
            envvar="ACCORD_ADMIN_DATABASE_URL",
            help="postgresql:// URL of an admin login on the store's database (may create "
            "roles, grant on the database, own what an earlier login created); used once, "
            "never stored.",
        ),
    ],
    store: Annotated[
        str | None,
        typer.Option(
            help="Store whose logins to set up (default: home); its app URL and "
            "migrator URL come from the settings."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create (or update) the API's login and the migrator's on a store; idempotent.

    The logins and their passwords are those of ACCORD_DATABASE_URL and
    ACCORD_MIGRATOR_DATABASE_URL (or the store's url and migrator_url in ACCORD_STORES).
    Schemas an earlier login created are given to the owner role. Embedded stores set
    themselves up.
    """
    settings = load_settings()
    name = store or settings.home_store
    if name == settings.home_store:
        app_url, migrator_url = settings.database_url, settings.migrator_database_url
    else:
        configured = next((s for s in settings.stores if s.name == name), None)
        if configured is None:
            raise _fail(f"No store named '{name}' in the settings.", "UNKNOWN_STORE")
        app_url, migrator_url = configured.url, configured.migrator_url
    if app_url is None or migrator_url is None:
        raise _fail(
            f"Store '{name}' needs both its API login URL and its migrator login URL "
            "(ACCORD_DATABASE_URL and ACCORD_MIGRATOR_DATABASE_URL for the home store); an "
            "embedded store sets itself up.",
            "LOGINS_NOT_CONFIGURED",
        )

    async def main() -> None:
        report = await bootstrap_store(
            admin_url,
            app=login_of(app_url.get_secret_value()),
            migrator=login_of(migrator_url.get_secret_value()),
        )
        result = {
            "store": name,
            "database": report.database,
            "admin": mask_url(admin_url),
            "schemas_taken_over": list(report.schemas_taken_over),
            "tampered_schemas": list(report.tampered),
        }
        if as_json:
            out.print_json(data=result)
            return
        out.print(
            f"store {name} (database {report.database}): logins ready; "
            f"{len(report.schemas_taken_over)} schema(s) given to the owner role"
        )
        for schema in report.tampered:
            out.print(f"[red]tampered[/red] {schema}: left for `accord migrate` to report")

    run(main())


def _fail(message: str, reason: str) -> typer.Exit:
    from accord.commands._support import report_error

    report_error(BadInput(message, reason=reason))
    return typer.Exit(2)
