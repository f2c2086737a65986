"""The demo network: its partners and people over two stores, its settings and tokens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from accord.demo.records import seed_story
from accord.platform.db import ensure_database
from accord.platform.embedded import APP_LOGIN, MIGRATOR_LOGIN
from accord.platform.eventlog import append_event
from accord.platform.migrations.bootstrap import Login, bootstrap_store, with_login
from accord.platform.runtime import Runtime
from accord.platform.secrets import local_passwords
from accord.platform.settings import Settings, StoreConfig
from accord.tenants import service as tenant_service
from accord.tenants.identity.devissuer import DevIssuer, register_dev_issuer
from accord.tenants.provisioning import create_tenant
from accord.tenants.sessions import tenant_session

HOME_STORE, HOME_REGION = "eu-central", "eu-central"
US_STORE, US_REGION = "us-east", "us-east"


@dataclass(frozen=True)
class DemoPartner:
    slug: str
    legal_name: str
    jurisdiction: str
    store: str
    members: tuple[tuple[str, str, tuple[str, ...]], ...]


PARTNERS = (
    DemoPartner(
        "northwind",
        "Northwind Logistik GmbH",
        "DE",
        HOME_STORE,
        (
            ("anna.keller", "Anna Keller (Quality Manager)", ("quality_manager", "auditor")),
            ("jonas.brandt", "Jonas Brandt (Managing Director)", ("executive",)),
            ("lea.hoffmann", "Lea Hoffmann (Lead Auditor)", ("auditor",)),
        ),
    ),
    DemoPartner(
        "globex",
        "Globex Components Inc.",
        "US",
        US_STORE,
        (
            ("maria.santos", "Maria Santos (Supplier Quality)", ("quality_manager",)),
            ("david.chen", "David Chen (VP Operations)", ("executive",)),
        ),
    ),
    DemoPartner(
        "meridian",
        "Meridian Hospitals NHS Trust",
        "GB",
        HOME_STORE,
        (
            ("priya.patel", "Priya Patel (Head of Resilience)", ("quality_manager",)),
            ("tom.hughes", "Tom Hughes (Chief Executive)", ("executive",)),
        ),
    ),
    DemoPartner(
        "initech",
        "Initech Managed Services Ltd",
        "IE",
        HOME_STORE,
        (
            ("siobhan.murphy", "Siobhan Murphy (CISO)", ("quality_manager", "admin")),
            ("conor.walsh", "Conor Walsh (CEO)", ("executive",)),
        ),
    ),
)


async def demo_settings(base: Settings) -> Settings:
    """Settings of the demo network: two stores, embedded unless a server URL is given.

    With a URL (an admin login's: it creates databases and logins), two databases on that
    server named after its database (``accord`` → ``accord_demo_eu`` and
    ``accord_demo_us``) play the two stores, bootstrapped for the API's and the migrator's
    logins (passwords generated into the demo's data directory). Either way the demo's
    data directory is ``<data_dir>/demo``.
    """
    if base.database_url is None:
        return base.model_copy(
            update={
                "home_store": HOME_STORE,
                "home_region": HOME_REGION,
                "data_dir": base.data_dir / "demo",
                "stores": [StoreConfig(name=US_STORE, region=US_REGION, url="embedded:us-east")],
            }
        )
    server = make_url(base.database_url.get_secret_value())
    prefix = server.database or "accord"
    eu_url = server.set(database=f"{prefix}_demo_eu").render_as_string(hide_password=False)
    us_url = server.set(database=f"{prefix}_demo_us").render_as_string(hide_password=False)
    data_dir = base.data_dir / "demo"
    passwords = local_passwords(data_dir / "server.logins.json", (APP_LOGIN, MIGRATOR_LOGIN))
    app = Login(APP_LOGIN, passwords[APP_LOGIN])
    migrator = Login(MIGRATOR_LOGIN, passwords[MIGRATOR_LOGIN])
    for url in (eu_url, us_url):
        await ensure_database(url)
        await bootstrap_store(url, app=app, migrator=migrator)
    return base.model_copy(
        update={
            "database_url": SecretStr(with_login(eu_url, app)),
            "migrator_database_url": SecretStr(with_login(eu_url, migrator)),
            "data_dir": data_dir,
            "home_store": HOME_STORE,
            "home_region": HOME_REGION,
            "stores": [
                StoreConfig(
                    name=US_STORE,
                    region=US_REGION,
                    url=SecretStr(with_login(us_url, app)),
                    migrator_url=SecretStr(with_login(us_url, migrator)),
                )
            ],
        }
    )


async def seed_demo(runtime: Runtime, *, say: Callable[[str], None] = print) -> None:
    """Create the demo partners, their people and the story's records; safe to run again."""
    created: list[str] = []
    for partner in PARTNERS:
        async with runtime.control_session() as session:
            existing = await tenant_service.find(session=session, slug=partner.slug)
        if existing is not None and existing.status != "provisioning":
            say(f"  {partner.slug:<10} already there ({existing.status}, store {existing.store})")
            continue
        tenant = await create_tenant(
            runtime,
            slug=partner.slug,
            legal_name=partner.legal_name,
            jurisdiction=partner.jurisdiction,
            store=partner.store,
        )
        async with runtime.control_session() as session:
            for subject, name, roles in partner.members:
                await tenant_service.add_member(
                    session=session, tenant=tenant, subject=subject, display_name=name, roles=roles
                )
        async with tenant_session(runtime, partner.slug) as session:
            for subject, name, roles in partner.members:
                await append_event(
                    session,
                    actor="system:demo",
                    action="member.added",
                    record_type="member",
                    record_id=subject,
                    change={"display_name": name, "roles": list(roles)},
                )
        say(
            f"  {partner.slug:<10} created in store {partner.store} ({len(partner.members)} people)"
        )
        created.append(partner.slug)
    if len(created) == len(PARTNERS):
        await seed_story(runtime, say=say)


#: People whose tokens the demo hands out (tenant, member subject).
TOKEN_HOLDERS = (
    ("northwind", "anna.keller"),
    ("northwind", "lea.hoffmann"),
    ("meridian", "tom.hughes"),
    ("globex", "maria.santos"),
    ("meridian", "priya.patel"),
    ("initech", "siobhan.murphy"),
)
TRY_QUERY = (
    '{ findings(first: 10, orderBy: DUE_AT, process: "supplier-quality-2027") '
    "{ edges { node { tenant level reference grade state responseDueAt title } } } }"
)


async def demo_tokens(runtime: Runtime, *, hours: int = 12) -> Path:
    """Development-issuer tokens for one person per partner, written to files (0600).

    Every file is ``<data_dir>/demo-tokens/<tenant>-<subject>.jwt``; the dev issuer refuses
    to run in production, so neither does this.
    """
    settings = runtime.settings
    issuer = DevIssuer.load(settings)
    folder = settings.data_dir / "demo-tokens"
    folder.mkdir(parents=True, exist_ok=True)
    async with runtime.control_session() as session:
        for slug, subject in TOKEN_HOLDERS:
            tenant = await tenant_service.get(session=session, slug=slug)
            await register_dev_issuer(session=session, tenant=tenant, settings=settings)
            path = folder / f"{slug}-{subject}.jwt"
            path.write_text(issuer.mint_token(slug, subject, ttl=timedelta(hours=hours)))
            path.chmod(0o600)
    return folder
