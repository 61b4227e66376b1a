"""Licence status codes of the national catalog interfaces, and how they map to IETF Token Status List
values (draft-ietf-oauth-status-list: 0 valid, 1 invalid, 2 suspended)."""

from __future__ import annotations

from enum import StrEnum


class LicenceStatus(StrEnum):
    VALID = "01"  # 有效
    SUSPENDED = "02"  # 暂扣
    ANNULLED = "03"  # 撤销
    CANCELLED = "04"  # 注销
    LAPSED = "05"  # 失效
    TRANSFERRED = "06"  # 转出
    REVOKED = "07"  # 吊销
    OTHER = "99"  # 其他

    @property
    def label_zh(self) -> str:
        return _LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _LABELS[self][1]

    @property
    def token_status(self) -> int:
        if self is LicenceStatus.VALID:
            return 0
        if self is LicenceStatus.SUSPENDED:
            return 2
        return 1


_LABELS = {
    LicenceStatus.VALID: ("有效", "valid"),
    LicenceStatus.SUSPENDED: ("暂扣", "suspended"),
    LicenceStatus.ANNULLED: ("撤销", "annulled"),
    LicenceStatus.CANCELLED: ("注销", "cancelled"),
    LicenceStatus.LAPSED: ("失效", "lapsed"),
    LicenceStatus.TRANSFERRED: ("转出", "transferred"),
    LicenceStatus.REVOKED: ("吊销", "revoked"),
    LicenceStatus.OTHER: ("其他", "other"),
}


class StatusReason(StrEnum):
    """Why a licence's status changed, as a closed list (a status statement's ``reason_code``).

    The code is public with the status (tier T0), so no code names a life event: a death, a divorce, a
    move and a dissolution are all ``registration_ended``. The department's own words, the statement's
    ``reason`` text (离婚登记, 死亡, a penalty decision's number), are personal and released only at tier
    T1 and above."""

    SUPERSEDED = "superseded"  # 换发、补领: replaced by a newer licence
    LOST = "lost"  # 遗失、被盗
    HOLDER_REQUEST = "holder_request"  # 依申请
    REGISTRATION_ENDED = "registration_ended"  # 登记终止: the registration it rests on has ended
    ELIGIBILITY_ENDED = "eligibility_ended"  # 资格终止: the holder no longer qualifies (benefits)
    UNDER_REVIEW = "under_review"  # 核查中: suspended while a department checks it
    PENALTY = "penalty"  # 行政处罚
    COURT_ORDER = "court_order"  # 司法裁判
    ISSUED_IN_ERROR = "issued_in_error"  # 错误登记、作废
    RESTORED = "restored"  # 恢复: back to valid after a suspension
    OTHER = "other"  # 其他: the text says what


STATUS_LIST_SIZE = 65536
STATUS_LIST_BITS = 2
STATUS_CHANGE_TYP = "licence-status+jwt"
CREDENTIAL_TYP = "dc+sd-jwt"


def status_list_path(department_id: str, list_number: int) -> str:
    """The path (after the hub's base URL) of a department's status list token."""
    return f"/v1/status-lists/{department_id}/{list_number}"
