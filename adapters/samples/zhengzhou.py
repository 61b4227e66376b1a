"""Reference data of Zhengzhou (郑州市, 410100) for the sample population: the 12 county-level divisions
(GB/T 2260), their share of residents, and how their offices are named."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class County:
    code: str
    name: str
    weight: float  # share of the sample population

    @property
    def urban(self) -> bool:
        """A city district (区) rather than a county-level city or county: GB/T 2260 numbers a city's
        districts 01-20 in the code's last two digits, its counties 21-80, county-level cities 81-99."""
        return 1 <= int(self.code[4:]) <= 20

    @property
    def short(self) -> str:
        """金水区 → 金水, 管城回族区 → 管城, 巩义市 → 巩义."""
        name = self.name.replace("回族区", "区")
        return name[:-1] if name[-1] in "区市县" else name

    @property
    def police_bureau(self) -> str:
        """签发机关 of resident ID cards."""
        return f"郑州市公安局{self.short}分局" if self.urban else f"{self.name}公安局"

    def police_station(self, place: str) -> str:
        """户口登记机关: the station (派出所) that keeps the household register."""
        return f"{self.police_bureau}{place}派出所"

    def office(self, department: str) -> str:
        """A county-level government office: a city district's is named with the city (郑州市金水区民政局),
        a county-level city's or county's is not (巩义市民政局)."""
        return f"郑州市{self.name}{department}" if self.urban else f"{self.name}{department}"

    @property
    def market_regulator(self) -> str:
        return self.office("市场监督管理局")

    @property
    def civil_affairs(self) -> str:
        return self.office("民政局")

    @property
    def marriage_office(self) -> str:
        return f"{self.civil_affairs}婚姻登记处"

    @property
    def address_prefix(self) -> str:
        return f"河南省郑州市{self.name}"


COUNTIES = (
    County("410102", "中原区", 0.11),
    County("410103", "二七区", 0.10),
    County("410104", "管城回族区", 0.08),
    County("410105", "金水区", 0.16),
    County("410106", "上街区", 0.02),
    County("410108", "惠济区", 0.05),
    County("410122", "中牟县", 0.07),
    County("410181", "巩义市", 0.07),
    County("410182", "荥阳市", 0.07),
    County("410183", "新密市", 0.08),
    County("410184", "新郑市", 0.11),
    County("410185", "登封市", 0.08),
)
BY_CODE = {c.code: c for c in COUNTIES}

# Henan's resident population is about 98.8% Han; the largest minority in Zhengzhou is Hui (回族).
ETHNICITIES = (
    ("汉族", 0.982),
    ("回族", 0.013),
    ("满族", 0.002),
    ("蒙古族", 0.001),
    ("壮族", 0.001),
    ("土家族", 0.001),
)
EDUCATION_ADULT = (
    ("小学", 0.12),
    ("初中", 0.30),
    ("高中", 0.17),
    ("中等专科", 0.08),
    ("大学专科", 0.15),
    ("大学本科", 0.15),
    ("研究生", 0.03),
)
BLOOD_TYPES = (("A", 0.28), ("B", 0.30), ("O", 0.33), ("AB", 0.09))
PROVINCES_MOVED_FROM = (
    "河南省开封市",
    "河南省洛阳市",
    "河南省周口市",
    "河南省商丘市",
    "河南省信阳市",
    "河南省南阳市",
    "河北省邯郸市",
    "山东省菏泽市",
    "安徽省阜阳市",
    "湖北省武汉市",
)
NATIVE_PLACES = (
    "河南郑州",
    "河南开封",
    "河南洛阳",
    "河南周口",
    "河南商丘",
    "河南新乡",
    "河南许昌",
    "河南南阳",
    "河南信阳",
    "河南驻马店",
    "山东菏泽",
    "河北邯郸",
)
DEATH_REASONS = ("死亡",)
LEAVE_REASONS = ("迁出本市", "出国定居", "参军入伍")
INDUSTRIES = (  # (name part, business scope)
    ("餐饮", "餐饮服务；食品销售"),
    ("商贸", "日用百货、五金交电、服装鞋帽销售"),
    ("科技", "软件开发；信息技术咨询服务；计算机系统集成"),
    ("建筑工程", "房屋建筑工程施工；建筑装饰装修工程施工"),
    ("物流", "普通货物道路运输；仓储服务（不含危险化学品）"),
    ("医药", "药品零售；医疗器械经营"),
    ("教育咨询", "教育信息咨询（不含培训）；文化艺术交流活动策划"),
    ("农业", "农作物种植；农产品初加工及销售"),
    ("汽车服务", "机动车维修；汽车零配件销售"),
    ("文化传媒", "广告设计、制作、代理、发布；会议及展览服务"),
)
SHOP_KINDS = (
    "烩面馆",
    "便利店",
    "水果店",
    "理发店",
    "五金店",
    "干洗店",
    "快餐店",
    "蔬菜店",
    "手机维修部",
    "服装店",
)
