"""A deterministic population of Zhengzhou residents, the same for every department's sample source.

Citizens live in households (户) in the 12 county-level divisions, hold valid 公民身份号码 (GB 11643) and
ID cards whose validity follows the law on resident ID cards (5, 10, 20 years or 长期 by age at issue);
couples married at the civil-affairs office, some divorced, a few to a foreign spouse; businesses with
valid 统一社会信用代码 (GB 32100) have citizens as legal representatives; a few poor households receive
低保, and some of those cases have ended. Names come from
Faker's zh_CN lists; every choice comes from one seeded generator, so a seed always gives the same people.
``generate(100_000)`` takes a few seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from faker import Faker
from stdnum.cn import ric, uscc

from adapters.samples import zhengzhou as zz
from adapters.samples.economy import (
    END_REASONS,
    ENTITY_TYPES,
    SUBSISTENCE_YUAN,
    Business,
    Subsistence,
    uscc_code,
)
from hub.contract.identifiers import check_citizen_id

AS_OF = date(2026, 11, 1)  # the sources' "today", fixed so a seed always gives the same data
MALE, FEMALE = "男", "女"
FIRST_ID_CARDS = date(1984, 4, 6)  # 居民身份证条例: resident ID cards were first issued in 1984


@dataclass
class Citizen:
    id_number: str
    name: str
    sex: str
    ethnicity: str
    birth_date: date
    county: str
    household: str  # 户号
    relationship: str  # 与户主关系
    marital_status: str = "未婚"
    education: str = ""
    occupation: str = ""
    employer: str = ""
    former_name: str = ""
    birthplace: str = ""
    native_place: str = ""
    height_cm: int = 0
    blood_type: str = ""
    military_service: str = "未服兵役"
    registered_on: date = AS_OF  # 登记日期
    moved_in: str = ""  # 何时由何地迁来本市
    id_card_from: date | None = None  # None: holds no ID card (children under 16 mostly)
    id_card_until: date | None = None  # None with id_card_from set: 长期
    alive: bool = True

    def age(self, on: date = AS_OF) -> int:
        return (
            on.year
            - self.birth_date.year
            - ((on.month, on.day) < (self.birth_date.month, self.birth_date.day))
        )


@dataclass
class Household:
    number: str  # 户号
    kind: str  # 家庭户 / 集体户
    county: str
    address: str
    police_station: str  # 户口登记机关
    head_name: str
    members: list[str] = field(default_factory=list)  # ID numbers, head first


@dataclass
class ForeignSpouse:
    """A spouse who holds no 公民身份号码 (涉外婚姻): a foreigner, or a resident of Hong Kong, Macao or
    Taiwan registering with a travel permit."""

    name: str
    sex: str
    nationality: str
    birth_date: date
    document_type: str  # 护照, 港澳居民来往内地通行证, 台湾居民来往大陆通行证
    document_number: str


@dataclass
class Marriage:
    husband: str
    wife: str
    county: str
    registered_on: date
    certificate: str  # 结婚证字号
    divorced_on: date | None = None
    divorce_certificate: str | None = None  # 离婚证字号
    # Set in Population.foreign_marriages only: then ``husband`` or ``wife`` is this spouse's document number.
    foreign_spouse: ForeignSpouse | None = None


@dataclass
class Population:
    seed: int
    citizens: dict[str, Citizen]
    households: dict[str, Household]
    marriages: list[Marriage]
    businesses: list[Business]
    subsistence: list[Subsistence]
    foreign_marriages: list[Marriage] = field(default_factory=list)  # one spouse is not a citizen


def _weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], [p[1] for p in pairs])[0]


def _day_between(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange(max(1, (end - start).days)))


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        faker = Faker("zh_CN")
        faker.seed_instance(seed)
        self.surnames = [faker.last_name() for _ in range(3000)]
        self.male_given = [faker.first_name_male() for _ in range(3000)]
        self.female_given = [faker.first_name_female() for _ in range(3000)]
        self.streets = list(dict.fromkeys(faker.street_name() for _ in range(800)))
        self.jobs = [faker.job() for _ in range(400)]
        self.brands = list(dict.fromkeys(faker.company_prefix() for _ in range(300)))
        self.citizens: dict[str, Citizen] = {}
        self.households: dict[str, Household] = {}
        self.marriages: list[Marriage] = []
        self.used_ids: set[str] = set()
        self.counters: dict[str, int] = {}
        self.surname_of: dict[str, str] = {}

    def next_serial(self, kind: str) -> int:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return self.counters[kind]

    # -- people ----------------------------------------------------------------------------------------

    def id_number(self, county: str, birth: date, sex: str) -> str:
        while True:
            order = self.rng.randrange(0, 500) * 2 + (1 if sex == MALE else 0)
            body = f"{county}{birth:%Y%m%d}{order:03d}"
            number = body + ric.calc_check_digit(body + "0")
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    def person(
        self, county: str, birth: date, sex: str, surname: str | None, household: str, relation: str
    ) -> Citizen:
        rng = self.rng
        given = rng.choice(self.male_given if sex == MALE else self.female_given)
        surname = surname or rng.choice(self.surnames)
        citizen = Citizen(
            id_number=self.id_number(county, birth, sex),
            name=surname + given,
            sex=sex,
            ethnicity=_weighted(rng, zz.ETHNICITIES),
            birth_date=birth,
            county=county,
            household=household,
            relationship=relation,
            native_place=rng.choice(zz.NATIVE_PLACES),
            blood_type=_weighted(rng, zz.BLOOD_TYPES) if rng.random() < 0.7 else "",
        )
        age = citizen.age()
        grown = min(1.0, (age + 2) / 18)
        mean = 171 if sex == MALE else 160
        citizen.height_cm = max(50, round(rng.gauss(mean, 6) * grown)) if rng.random() < 0.8 else 0
        if age >= 18:
            citizen.education = _weighted(rng, zz.EDUCATION_ADULT)
            citizen.occupation = "退休人员" if age >= 60 else rng.choice(self.jobs)
            citizen.employer = "" if age >= 60 or rng.random() < 0.3 else self.company_name(county)
            if sex == MALE and rng.random() < 0.05:
                citizen.military_service = "退出现役"
        elif age >= 6:
            citizen.education, citizen.occupation = "在校学生", "学生"
        if rng.random() < 0.02:
            citizen.former_name = surname + rng.choice(self.male_given if sex == MALE else self.female_given)
        if rng.random() < 0.25 and age >= 18:
            citizen.birthplace = rng.choice(zz.PROVINCES_MOVED_FROM)
            moved = _day_between(rng, birth + timedelta(days=365 * 18), AS_OF)
            citizen.registered_on = moved
            citizen.moved_in = f"{moved.year}年{moved.month}月由{citizen.birthplace}迁来"
        else:
            citizen.birthplace = "河南省郑州市"
            citizen.registered_on = birth + timedelta(days=rng.randrange(1, 60))
        self.id_card(citizen)
        self.citizens[citizen.id_number] = citizen
        self.surname_of[citizen.id_number] = surname
        return citizen

    def id_card(self, citizen: Citizen) -> None:
        """The current card: validity 5 years if issued under 16, 10 years at 16-25, 20 at 26-45, else 长期
        (居民身份证法 §5). Children under 16 mostly have none; one adult in a hundred let theirs expire."""
        rng = self.rng
        age = citizen.age()
        if age < 16 and rng.random() < 0.6:
            return
        issued = citizen.birth_date + timedelta(days=365 * (16 if age >= 16 else rng.randrange(0, age + 1)))
        issued = max(issued, FIRST_ID_CARDS) + timedelta(days=rng.randrange(0, 300))
        issued = min(issued, AS_OF - timedelta(days=1))
        while True:
            at = citizen.age(issued)
            years = 5 if at < 16 else 10 if at <= 25 else 20 if at <= 45 else None
            until = None if years is None else date(issued.year + years, issued.month, min(issued.day, 28))
            if until is None or until >= AS_OF or rng.random() < 0.01:
                citizen.id_card_from, citizen.id_card_until = issued, until
                return
            issued = until - timedelta(days=rng.randrange(0, 90))

    # -- households ------------------------------------------------------------------------------------

    def address(self, county: zz.County) -> str:
        rng = self.rng
        street = rng.choice(self.streets)
        if county.urban:
            compound = f"{street}{rng.randrange(1, 300)}号院{rng.randrange(1, 20)}号楼"
            flat = f"{rng.randrange(1, 5)}单元{rng.randrange(1, 30)}{rng.randrange(1, 5):02d}号"
            return county.address_prefix + compound + flat
        village = rng.choice(self.streets)[:-1]
        return f"{county.address_prefix}{street[:-1]}镇{village}村{rng.randrange(1, 400)}号"

    def household(self, county: zz.County, room: int) -> list[Citizen]:
        rng = self.rng
        number = f"{county.code[-2:]}{self.next_serial('household:' + county.code):07d}"
        size = min(room, rng.choices((1, 2, 3, 4, 5), (0.16, 0.26, 0.30, 0.17, 0.11))[0])
        head_sex = MALE if rng.random() < 0.7 else FEMALE
        head_birth = _day_between(rng, date(1941, 1, 1), date(2003, 1, 1))
        head = self.person(county.code, head_birth, head_sex, None, number, "户主")
        members = [head]
        if size >= 2 and head.age() >= 22 and rng.random() < 0.85:
            spouse_birth = head_birth + timedelta(days=rng.randrange(-2500, 2500))
            spouse_birth = min(spouse_birth, date(2003, 6, 1))
            spouse_sex = FEMALE if head_sex == MALE else MALE
            spouse = self.person(county.code, spouse_birth, spouse_sex, None, number, "配偶")
            members.append(spouse)
            husband, wife = (head, spouse) if head_sex == MALE else (spouse, head)
            self.marry(husband, wife, county)
        father = head if head_sex == MALE else (members[1] if len(members) > 1 else head)
        youngest_parent = max(m.birth_date for m in members)
        while len(members) < size:
            earliest = youngest_parent + timedelta(days=365 * 22)
            if earliest >= AS_OF or rng.random() < 0.1:
                break
            sex = MALE if rng.random() < 0.51 else FEMALE
            birth = _day_between(rng, earliest, min(AS_OF, earliest + timedelta(days=365 * 18)))
            surname = self.surname_of[father.id_number]
            child = self.person(county.code, birth, sex, surname, number, "子" if sex == MALE else "女")
            members.append(child)
        station = county.police_station(rng.choice(self.streets))
        self.households[number] = Household(
            number=number,
            kind="家庭户",
            county=county.code,
            address=self.address(county),
            police_station=station,
            head_name=head.name,
            members=[m.id_number for m in members],
        )
        return members

    def marry(self, husband: Citizen, wife: Citizen, county: zz.County, divorced: bool = False) -> None:
        rng = self.rng
        earliest = max(
            husband.birth_date + timedelta(days=365 * 22),  # legal ages: 22 for men, 20 for women
            wife.birth_date + timedelta(days=365 * 20),
            date(1985, 1, 1),
        )
        earliest = min(earliest, AS_OF - timedelta(days=60))  # spouses are born by 2003, so this is rare
        registered = _day_between(rng, earliest, AS_OF - timedelta(days=30))
        marriage = Marriage(
            husband=husband.id_number,
            wife=wife.id_number,
            county=county.code,
            registered_on=registered,
            certificate=f"J{county.code}-{registered.year}-{self.next_serial(f'J{registered.year}'):06d}",
        )
        husband.marital_status = wife.marital_status = "已婚"
        if divorced:
            marriage.divorced_on = _day_between(rng, registered + timedelta(days=200), AS_OF)
            year = marriage.divorced_on.year
            marriage.divorce_certificate = f"L{county.code}-{year}-{self.next_serial(f'L{year}'):06d}"
            husband.marital_status = wife.marital_status = "离婚"
        self.marriages.append(marriage)

    def company_name(self, county_code: str) -> str:
        industry = self.rng.choice(zz.INDUSTRIES)[0]
        return f"郑州{self.rng.choice(self.brands)}{industry}有限公司"


def generate(citizens: int, seed: int = 2016) -> Population:
    """A population of exactly ``citizens`` residents (at least 1), the same for the same arguments."""
    builder = _Builder(seed)
    rng = builder.rng
    counties = list(zz.COUNTIES)
    weights = [c.weight for c in counties]
    while len(builder.citizens) < citizens:
        county = rng.choices(counties, weights)[0]
        builder.household(county, citizens - len(builder.citizens))
    _divorces_and_widows(builder)
    population = Population(seed, builder.citizens, builder.households, builder.marriages, [], [])
    population.businesses = businesses(population, rng, builder.brands)
    population.subsistence = subsistence_cases(population, rng)
    # Last, so that everything above stays what it was before foreign spouses were added.
    population.foreign_marriages = _foreign_marriages(builder)
    return population


# (nationality, document type, document number form: 9 = a digit, other characters as they are)
_FOREIGN_DOCUMENTS = (
    ("韩国", "护照", "M99999999"),
    ("美国", "护照", "599999999"),
    ("越南", "护照", "C9999999"),
    ("俄罗斯", "护照", "759999999"),
    ("中国", "港澳居民来往内地通行证", "H99999999"),
    ("中国", "台湾居民来往大陆通行证", "99999999"),
)
_FOREIGN_NAMES = {
    "韩国": (("KIM MINJUN", "PARK JIHO"), ("LEE SEOYEON", "CHOI JIWOO")),
    "美国": (("JOHN SMITH", "MICHAEL BROWN"), ("EMILY JOHNSON", "SARAH DAVIS")),
    "越南": (("NGUYEN VAN AN", "TRAN MINH DUC"), ("NGUYEN THI LAN", "PHAM THU HA")),
    "俄罗斯": (("IVANOV SERGEI", "PETROV ALEXEI"), ("IVANOVA ANNA", "SMIRNOVA OLGA")),
}


def _foreign_marriages(builder: _Builder) -> list[Marriage]:
    """About one in forty unmarried residents aged 25-45 (at least one when there is any) married a
    spouse without a 公民身份号码 at the civil-affairs office of their county."""
    rng = builder.rng
    singles = [c for c in builder.citizens.values() if c.marital_status == "未婚" and 25 <= c.age() <= 45]
    chosen = [c for c in singles if rng.random() < 0.025] or singles[:1]
    marriages = []
    for citizen in chosen:
        nationality, document_type, form = rng.choice(_FOREIGN_DOCUMENTS)
        sex = FEMALE if citizen.sex == MALE else MALE
        if nationality in _FOREIGN_NAMES:
            name = rng.choice(_FOREIGN_NAMES[nationality][sex == FEMALE])
        else:
            given_names = builder.male_given if sex == MALE else builder.female_given
            name = rng.choice(builder.surnames) + rng.choice(given_names)
        spouse = ForeignSpouse(
            name=name,
            sex=sex,
            nationality=nationality,
            birth_date=citizen.birth_date + timedelta(days=rng.randrange(-2500, 2500)),
            document_type=document_type,
            document_number="".join(str(rng.randrange(10)) if ch == "9" else ch for ch in form),
        )
        oldest = max(citizen.birth_date, spouse.birth_date)  # the younger one must be of age
        earliest = min(max(oldest + timedelta(days=365 * 22), date(1985, 1, 1)), AS_OF - timedelta(days=60))
        registered = _day_between(rng, earliest, AS_OF - timedelta(days=30))
        number = f"J{citizen.county}-{registered.year}-{builder.next_serial(f'J{registered.year}'):06d}"
        husband, wife = (
            (citizen.id_number, spouse.document_number)
            if citizen.sex == MALE
            else (spouse.document_number, citizen.id_number)
        )
        marriages.append(Marriage(husband, wife, citizen.county, registered, number, foreign_spouse=spouse))
        citizen.marital_status = "已婚"
    return marriages


def businesses(population: Population, rng: random.Random, brands: list[str]) -> list[Business]:
    """One business for about every 25 residents; legal representatives are adults aged 22-70."""
    adults = [c for c in population.citizens.values() if 22 <= c.age() <= 70]
    made: list[Business] = []
    seen: set[str] = set()
    for serial in range(1, len(population.citizens) // 25 + 1):
        if not adults:
            break
        owner = rng.choice(adults)
        county = zz.BY_CODE[owner.county]
        entity_type = rng.choices([t for t, _ in ENTITY_TYPES], [w for _, w in ENTITY_TYPES])[0]
        individual = entity_type == "个体工商户"
        code = uscc_code(rng, county.code, individual)
        if code in seen:
            continue
        seen.add(code)
        industry, scope = rng.choice(zz.INDUSTRIES)
        if individual:
            name = f"{county.name}{owner.name[0]}记{rng.choice(zz.SHOP_KINDS)}"
            capital = ""
        else:
            name = f"郑州{rng.choice(brands)}{industry}{'股份' if '股份' in entity_type else ''}有限公司"
            capital = f"{rng.choice((10, 30, 50, 100, 200, 500, 1000, 5000))}万元人民币"
        earliest = max(owner.birth_date + timedelta(days=365 * 22), date(1993, 1, 1))
        established = earliest + timedelta(days=rng.randrange(max(1, (AS_OF - earliest).days)))
        term = None if individual or rng.random() < 0.5 else date(established.year + 30, established.month, 1)
        street = rng.choice(("经三路", "花园路", "中原路", "大学路", "商都路", "农业路", "建设路", "航海路"))
        made.append(
            Business(
                uscc=code,
                licence_number=f"{county.code}{established.year % 100:02d}{serial:08d}",
                name=name,
                entity_type=entity_type,
                legal_representative=owner.id_number,
                business_scope=scope,
                registered_capital=capital,
                established=established,
                term_until=term,
                domicile=f"{county.address_prefix}{street}{rng.randrange(1, 400)}号",
                county=county.code,
            )
        )
    return made


def subsistence_cases(population: Population, rng: random.Random) -> list[Subsistence]:
    """About 2% of family households receive 低保: 城市低保 in the city districts, 农村低保 elsewhere."""
    cases: list[Subsistence] = []
    for number, household in population.households.items():
        if household.kind != "家庭户" or rng.random() >= 0.02:
            continue
        county = zz.BY_CODE[household.county]
        category = "城市低保" if county.urban else "农村低保"
        persons = len(household.members)
        issued = AS_OF - timedelta(days=rng.randrange(30, 700))
        cases.append(
            Subsistence(
                certificate=f"ZZDB{county.code}{issued.year}{len(cases) + 1:05d}",
                household=number,
                holder=household.members[0],
                category=category,
                assistance_class=rng.choice(("A类", "B类", "C类")),
                covered_persons=persons,
                monthly_amount_yuan=persons * SUBSISTENCE_YUAN[category] - rng.randrange(0, 3) * 100,
                issued_on=issued,
                valid_until=date(issued.year + 1, issued.month, min(issued.day, 28)),
            )
        )
    for case in cases:  # after all cases, so that the draws above stay what they were
        if rng.random() < 0.1:
            span = (min(case.valid_until, AS_OF) - case.issued_on).days
            case.ended_on = case.issued_on + timedelta(days=rng.randrange(1, max(2, span)))
            case.end_reason = rng.choice(END_REASONS)
    return cases


def _divorces_and_widows(builder: _Builder) -> None:
    """Single heads of household aged 30-60: some are divorced (paired across households, with both a
    marriage and a divorce record), older ones widowed."""
    singles = {MALE: [], FEMALE: []}  # type: dict[str, list[Citizen]]
    for household in builder.households.values():
        if len(household.members) != 1:
            continue
        head = builder.citizens[household.members[0]]
        age = head.age()
        if 30 <= age <= 60 and builder.rng.random() < 0.6:
            singles[head.sex].append(head)
        elif age >= 65 and builder.rng.random() < 0.6:
            head.marital_status = "丧偶"
    for husband, wife in zip(singles[MALE], singles[FEMALE], strict=False):
        builder.marry(husband, wife, zz.BY_CODE[husband.county], divorced=True)


def check(population: Population) -> None:
    """Raise AssertionError if an identifier is invalid or a reference dangles (used by the tests)."""
    for number, citizen in population.citizens.items():
        assert check_citizen_id(number) == number, number
        assert citizen.household in population.households
    for marriage in population.marriages:
        assert marriage.husband in population.citizens and marriage.wife in population.citizens
    for marriage in population.foreign_marriages:
        assert marriage.foreign_spouse is not None
        assert (marriage.husband in population.citizens) != (marriage.wife in population.citizens)
    for business in population.businesses:
        assert uscc.is_valid(business.uscc), business.uscc
        assert business.legal_representative in population.citizens
