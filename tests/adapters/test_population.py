"""The shared sample population: deterministic, valid identifiers, consistent across departments."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from adapters.samples.events import evolve
from adapters.samples.population import AS_OF, MALE, Population, check, generate
from adapters.samples.zhengzhou import BY_CODE
from hub.contract.identifiers import check_citizen_id, check_uscc


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(3000, seed=11)


def test_same_seed_same_people_other_seed_other_people() -> None:
    a, b, c = generate(300, seed=5), generate(300, seed=5), generate(300, seed=6)
    assert list(a.citizens.values()) == list(b.citizens.values())
    assert a.marriages == b.marriages and a.businesses == b.businesses
    assert set(a.citizens) != set(c.citizens)


def test_exact_size_and_valid_identifiers(population: Population) -> None:
    assert len(population.citizens) == 3000
    check(population)
    for number, citizen in population.citizens.items():
        assert check_citizen_id(number) == number
        assert number[:6] in BY_CODE and number[:6] == citizen.county
        assert number[6:14] == f"{citizen.birth_date:%Y%m%d}"
        assert (int(number[16]) % 2 == 1) == (citizen.sex == MALE)
    for business in population.businesses:
        assert check_uscc(business.uscc) == business.uscc
    assert len({b.uscc for b in population.businesses}) == len(population.businesses)


def test_households_marriages_and_businesses_fit_together(population: Population) -> None:
    citizens = population.citizens
    for household in population.households.values():
        assert citizens[household.members[0]].relationship == "户主"
        assert citizens[household.members[0]].name == household.head_name
        assert all(citizens[m].household == household.number for m in household.members)
    for marriage in population.marriages:
        husband, wife = citizens[marriage.husband], citizens[marriage.wife]
        assert husband.sex == MALE and wife.sex != MALE
        assert husband.age(marriage.registered_on) >= 22 and wife.age(marriage.registered_on) >= 20
        expected = "离婚" if marriage.divorced_on else "已婚"
        assert husband.marital_status == wife.marital_status == expected
        if marriage.divorced_on:
            assert marriage.registered_on < marriage.divorced_on <= AS_OF and marriage.divorce_certificate
    assert any(m.divorced_on for m in population.marriages)
    for business in population.businesses:
        assert citizens[business.legal_representative].age() >= 22
    for case in population.subsistence:
        assert population.households[case.household].members[0] == case.holder
        assert case.covered_persons == len(population.households[case.household].members)
    assert population.subsistence, "a few 低保 households"


def test_id_card_validity_follows_the_law(population: Population) -> None:
    for citizen in population.citizens.values():
        if citizen.id_card_from is None:
            assert citizen.id_card_until is None
            continue
        age = citizen.age(citizen.id_card_from)
        years = (
            None if citizen.id_card_until is None else citizen.id_card_until.year - citizen.id_card_from.year
        )
        assert years == (5 if age < 16 else 10 if age <= 25 else 20 if age <= 45 else None)
    expired = sum(1 for c in population.citizens.values() if c.id_card_until and c.id_card_until < AS_OF)
    assert expired < len(population.citizens) * 0.03


def test_evolve_changes_about_the_fraction_asked() -> None:
    population = generate(2000, seed=3)
    events = evolve(population, 0.01, seed=4)
    assert 20 <= len(events) <= 30  # moves change whole households
    assert len({e.id_number for e in events}) == len(events)
    kinds = Counter(e.op for e in events)
    assert kinds["changed"] >= 15
    for event in events:
        assert event.id_number in population.citizens
        assert population.citizens[event.id_number].alive == (event.op != "cancelled")
    check(population)


@pytest.mark.slow
def test_a_hundred_thousand_citizens_in_seconds() -> None:
    started = time.perf_counter()
    population = generate(100_000, seed=1)
    elapsed = time.perf_counter() - started
    assert len(population.citizens) == 100_000 and len(population.businesses) >= 3000
    assert elapsed < 15, f"{elapsed:.1f} s"
