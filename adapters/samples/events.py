"""Life events that change a sample population after an export: households move, people change jobs or
renew ID cards, die, are born. Deterministic per seed; each event names the citizens it changed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from adapters.samples.population import AS_OF, FEMALE, MALE, Citizen, Population, _Builder
from adapters.samples.zhengzhou import BY_CODE


@dataclass(frozen=True)
class LifeEvent:
    op: str  # new | changed | cancelled (how a register's change log records it)
    id_number: str
    what: str  # moved | job | id_card | died | born


def evolve(population: Population, fraction: float, seed: int) -> list[LifeEvent]:
    """Change about ``fraction`` of the citizens (at least one) in place and say what changed.

    Mix: 55% job changes, 20% ID card renewals, 15% moves (the whole household moves, so each member
    changes), 5% deaths, 5% births. A citizen changes at most once per call."""
    rng = random.Random(seed)
    wanted = max(1, round(fraction * len(population.citizens)))
    living = [c for c in population.citizens.values() if c.alive]
    rng.shuffle(living)
    events: list[LifeEvent] = []
    touched: set[str] = set()
    builder = _Builder(seed)  # for names and ID numbers of newborns
    builder.used_ids = set(population.citizens)
    for citizen in living:
        if len(events) >= wanted:
            break
        if citizen.id_number in touched:
            continue
        roll = rng.random()
        if roll < 0.55 and citizen.age() >= 18:
            citizen.occupation = rng.choice(builder.jobs)
            citizen.employer = builder.company_name(citizen.county)
            events.append(LifeEvent("changed", citizen.id_number, "job"))
        elif roll < 0.75 and citizen.id_card_from is not None:
            citizen.id_card_from = AS_OF - timedelta(days=rng.randrange(1, 20))
            age = citizen.age(citizen.id_card_from)
            years = 5 if age < 16 else 10 if age <= 25 else 20 if age <= 45 else None
            start = citizen.id_card_from
            citizen.id_card_until = (
                None if years is None else date(start.year + years, start.month, min(start.day, 28))
            )
            events.append(LifeEvent("changed", citizen.id_number, "id_card"))
        elif roll < 0.90:
            household = population.households[citizen.household]
            household.address = builder.address(BY_CODE[household.county])
            for member in household.members:
                if member not in touched and population.citizens[member].alive:
                    events.append(LifeEvent("changed", member, "moved"))
                    touched.add(member)
        elif roll < 0.95:
            citizen.alive = False
            events.append(LifeEvent("cancelled", citizen.id_number, "died"))
        else:
            household = population.households[citizen.household]
            sex = MALE if rng.random() < 0.51 else FEMALE
            born = AS_OF - timedelta(days=rng.randrange(1, 20))  # registered after the export
            baby = _newborn(builder, citizen, household.number, sex, born)
            population.citizens[baby.id_number] = baby
            household.members.append(baby.id_number)
            events.append(LifeEvent("new", baby.id_number, "born"))
            touched.add(baby.id_number)
        touched.add(citizen.id_number)
    return events


def _newborn(builder: _Builder, relative: Citizen, household: str, sex: str, born: date) -> Citizen:
    baby = builder.person(
        relative.county, born, sex, relative.name[0], household, "孙子" if sex == MALE else "孙女"
    )
    baby.birth_date = born
    baby.id_card_from = baby.id_card_until = None
    baby.education = baby.occupation = baby.employer = ""
    baby.registered_on = born + timedelta(days=1)
    return baby
