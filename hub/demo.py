"""``hub demo``: a working hub on the embedded default, seeded so a newcomer can call the API at once.

Seeds Zhengzhou's regions, the licence type catalog and service items, the three departments with keys
(private keys in ``var/demo/keys/``), admins, clients and grants; then, once the hub listens, each
department's adapter loads its sample source over HTTP (``hub.demo_adapters``). Writes
``var/demo/credentials.json`` listing departments, key files, clients, admins and holder numbers to try.
Running it again reuses what is there, and the adapters push nothing new.
"""

from __future__ import annotations

import csv
import json
import random
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey

from hub.access import service as access_service
from hub.access.schemas import AdminCreate, ClientCreate, GrantCreate
from hub.context import Hub
from hub.demo_adapters import load_through_adapters
from hub.demo_data import uscc_code
from hub.kit.private_files import keep_private, write_private
from hub.kit.time import utcnow
from hub.registry import repository, service
from hub.registry.catalog_data import load_licence_types
from hub.registry.items import seed_service_items
from hub.registry.regions_data import load_regions
from storage.database import transaction

DEPARTMENTS: tuple[dict[str, Any], ...] = (
    {"id": "zz-police", "name": "郑州市公安局", "kind": "police", "uscc_seed": 1},
    {"id": "zz-amr", "name": "郑州市市场监督管理局", "kind": "commerce", "uscc_seed": 2},
    {"id": "zz-civil", "name": "郑州市民政局", "kind": "civil_affairs", "uscc_seed": 3},
)
ID_CARD, HOUSEHOLD = "11100000000013127D001", "11100000000013127D002"
DEMO_LEGAL_BASIS = "《郑州市政务信息资源共享管理办法》(demo seed)"
BUSINESS, MARRIAGE, SUBSISTENCE = "11100000000019887N001", "11100000000014269L001", "11100000000014269L003"


def seed_catalog(hub: Hub) -> None:
    """Regions, the licence type catalog and the reference service items."""
    with transaction(hub.session_factory) as session:
        service.seed_regions(session, load_regions())
        for spec in load_licence_types():
            service.register_licence_type(session, spec)
        seed_service_items(session)


def _department_key(keys_dir: Path, department_id: str) -> ECKey:
    path = keys_dir / f"{department_id}.private.jwk.json"
    if path.exists():
        keep_private(path)
        return ECKey.import_key(json.loads(path.read_text()))
    key = ECKey.generate_key("P-256", private=True)
    write_private(path, json.dumps(key.as_dict(private=True)), exclusive=True)
    return key


def seed_departments(hub: Hub, keys_dir: Path) -> list[dict[str, Any]]:
    seeded = []
    for spec in DEPARTMENTS:
        key = _department_key(keys_dir, spec["id"])
        issuer = f"{hub.settings.public_url}/v1/departments/{spec['id']}"
        with transaction(hub.session_factory) as session:
            department = repository.get_department(session, spec["id"])
            if department is None:
                department = service.register_department(
                    session,
                    id=spec["id"],
                    name=spec["name"],
                    kind=spec["kind"],
                    region_code="410100",
                    uscc=uscc_code(random.Random(spec["uscc_seed"]), category="11"),
                    issuer=issuer,
                )
            kid = key.thumbprint()
            if repository.get_department_key(session, kid) is None:
                service.add_department_key(
                    session, spec["id"], {**key.as_dict(private=False), "alg": "ES256"}
                )
            if not repository.issuing_authorizations_in_force(session, spec["id"], utcnow()):
                service.authorize_every_type(
                    session,
                    spec["id"],
                    jurisdiction_code="410100",
                    legal_basis=DEMO_LEGAL_BASIS,
                    valid_until=utcnow() + timedelta(days=365 * 5),
                )
            seeded.append(
                {
                    "id": department.id,
                    "name": department.name,
                    "kind": department.kind,
                    "uscc": department.uscc,
                    "issuer": department.issuer,
                    "kid": kid,
                    "alg": "ES256",
                    "private_key_file": str((keys_dir / f"{spec['id']}.private.jwk.json").resolve()),
                    "_key": key,
                }
            )
    return seeded


def _private_key_file(keys_dir: Path, name: str) -> tuple[ECKey, str]:
    key = _department_key(keys_dir, name)
    return key, str((keys_dir / f"{name}.private.jwk.json").resolve())


def seed_access(
    hub: Hub, demo_dir: Path, departments: list[dict[str, Any]], existing: dict[str, Any]
) -> dict[str, Any]:
    """Admins (city and Jinshui county), an adapter client per department, two approval-service clients
    and their grants. Secrets are shown once, so a second run reuses the listing written the first time."""
    if existing.get("admins") and existing.get("clients"):
        for department, client in zip(departments, existing["clients"][: len(departments)], strict=True):
            department["client_id"] = client["client_id"]
            client_key = demo_dir / "keys" / f"{department['id']}-client.private.jwk.json"
            if client_key.exists():
                keep_private(client_key)  # written by an older run, perhaps before files were 0600
        return {
            "admins": existing["admins"],
            "clients": existing["clients"],
            "grants": existing.get("grants", []),
        }
    keys_dir = demo_dir / "keys"
    admins, clients, grants = [], [], []
    with transaction(hub.session_factory) as session:
        made = {}
        for username, name, region in (
            ("city-admin", "郑州市政务服务管理员", "410100"),
            ("city-admin-2", "郑州市政务服务复核员", "410100"),
            ("jinshui-admin", "金水区政务服务管理员", "410105"),
        ):
            password = secrets.token_urlsafe(12)
            made[username] = access_service.create_admin(
                session,
                AdminCreate(
                    username=username, display_name=name, role="admin", region_code=region, password=password
                ),
                by=None,
            )
            admins.append({"username": username, "password": password, "region": region, "role": "admin"})
        city = made["city-admin"]
        for department in departments:
            key, key_file = _private_key_file(keys_dir, f"{department['id']}-client")
            client, _ = access_service.create_client(
                session,
                ClientCreate(
                    name=f"{department['name']} 数据同步",
                    kind="department",
                    region_code="410100",
                    department_id=department["id"],
                    auth_method="private_key_jwt",
                    jwks={"keys": [{**key.as_dict(private=False), "kid": key.thumbprint()}]},
                ),
                by=city,
            )
            department["client_id"] = client.client_id
            clients.append(
                {
                    "client_id": client.client_id,
                    "name": client.name,
                    "auth": "private_key_jwt",
                    "department": department["id"],
                    "private_key_file": key_file,
                    "scope": access_service.PUSH_SCOPE,
                }
            )
        window, window_secret = access_service.create_client(
            session,
            ClientCreate(
                name="郑州市政务服务网审批系统",
                kind="service",
                region_code="410100",
                organisation="郑州市政务服务办公室",
                auth_method="client_secret_basic",
                redirect_uris=[f"http://127.0.0.1:{hub.settings.port}/demo/callback"],
            ),
            by=city,
        )
        clients.append(
            {
                "client_id": window.client_id,
                "name": window.name,
                "auth": "client_secret_basic",
                "client_secret": window_secret,
                "redirect_uri": window.redirect_uris[0],
            }
        )
        valid_until = utcnow() + timedelta(days=365)
        for code, tier in ((ID_CARD, 2), (HOUSEHOLD, 2), (BUSINESS, 2), (MARRIAGE, 1), (SUBSISTENCE, 3)):
            grant = access_service.request_grant(
                session,
                GrantCreate(
                    client_id=window.client_id,
                    type_code=code,
                    max_tier=tier,
                    purposes=["*"],
                    region_code="410100",
                    valid_until=valid_until,
                    legal_basis="《郑州市政务信息资源共享管理办法》（演示）",
                ),
                by=city,
            )
            if grant.status == "pending":
                access_service.approve_grant(session, grant.id, by=made["city-admin-2"])  # type: ignore[arg-type]
            grants.append(
                {"id": grant.id, "client_id": window.client_id, "type_code": code, "max_tier": tier}
            )
    return {"admins": admins, "clients": clients, "grants": grants}


def seed(hub: Hub) -> Path:
    """Seed the catalog, departments and access, and write ``var/demo/credentials.json``."""
    demo_dir = hub.settings.var_dir / "demo"
    path = demo_dir / "credentials.json"
    existing = json.loads(path.read_text()) if path.exists() else {}
    seed_catalog(hub)
    departments = seed_departments(hub, demo_dir / "keys")
    access = seed_access(hub, demo_dir, departments, existing)
    listing = {
        "hub": hub.settings.public_url,
        "warning": "demo mode: generated secrets, sample data only; never use these keys for real licences",
        "departments": [{k: v for k, v in d.items() if not k.startswith("_")} for d in departments],
        **access,
        "holders": existing.get("holders", {}),
        "sample_licence_ids": existing.get("sample_licence_ids", []),
        "try": [
            "POST /v1/admin/sign-in  {username, password}",
            "POST /oauth/token  grant_type=client_credentials (client_secret_basic)",
            "POST /v1/lookups  {holder_id, types, purpose: ZDSHBZ, case_id, nonce}",
            "GET /v1/service-items",
            "GET /v1/licences/{licence_id}/status",
            "GET /v1/status-lists/zz-police/0",
            "GET /.well-known/jwks.json",
        ],
    }
    write_private(path, json.dumps(listing, ensure_ascii=False, indent=2))
    return path


def load_data(hub: Hub, hub_url: str) -> None:
    """Run the three adapters against the listening hub, then list holders and licence ids to try."""
    path = hub.settings.var_dir / "demo" / "credentials.json"
    listing = json.loads(path.read_text())
    load_through_adapters(hub_url, hub.settings.var_dir, listing["departments"], listing["clients"])
    sources = hub.settings.var_dir / "demo" / "sources"
    with (sources / "police" / "population.csv").open(encoding="utf-8") as handle:
        citizens = [row["公民身份号码"] for _, row in zip(range(5), csv.DictReader(handle), strict=False)]
    snapshot = json.loads(next((sources / "commerce").glob("*.json")).read_text(encoding="utf-8"))
    records = snapshot if isinstance(snapshot, list) else snapshot.get("records", [])
    businesses = [r["统一社会信用代码"] for r in records[:3] if "统一社会信用代码" in r]
    with hub.read_session_factory() as session:
        licence_ids = repository.sample_licence_ids(session, 5)
    listing["holders"] = {"citizen_id_numbers": citizens, "business_usccs": businesses}
    listing["sample_licence_ids"] = licence_ids
    write_private(path, json.dumps(listing, ensure_ascii=False, indent=2))
