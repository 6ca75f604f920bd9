"""Names of the platform's fixed vocabularies in both languages (data, not prose).

Used by actions to fill response templates ("{type_label}") and by channels and the console to
show the same words. The vocabularies themselves are `bot.request_rules`'. The Arabic names are the platform's own: اسأل الحكومة، اقتراح، ثناء، شكوى، إبلاغ.
"""

from __future__ import annotations

_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "type": {
        "inquiry": ("سؤال للحكومة", "question to the government"),
        "suggestion": ("اقتراح", "suggestion"),
        "compliment": ("ثناء", "compliment"),
        "complaint": ("شكوى", "complaint"),
        "report": ("إبلاغ عن مخالفة", "report of a violation"),
    },
    "pillar": {
        "service_quality": ("جودة الخدمة", "service quality"),
        "delivery_time": ("وقت إنجاز الخدمة", "time to deliver"),
        "employee_behaviour": ("تعامل الموظفين", "staff behaviour"),
        "procedures": ("الإجراءات", "procedures"),
        "infrastructure": ("البنية التحتية", "infrastructure"),
    },
    "importance": {
        "normal": ("عادي", "normal"),
        "urgent": ("مستعجل", "urgent"),
    },
    "status": {
        "submitted": ("تم الاستلام", "received"),
        "in_progress": ("قيد المعالجة", "in progress"),
        "answered": ("تم الرد", "answered"),
        "closed": ("مغلق", "closed"),
        "rejected": ("مرفوض", "rejected"),
        "reopened": ("أعيد فتحه", "reopened"),
    },
    "field": {
        "entity_id": ("الجهة", "entity"),
        "pillar": ("المحور", "topic"),
        "importance": ("الأهمية", "importance"),
        "description": ("التفاصيل", "details"),
        "contact_phone": ("رقم الهاتف", "phone"),
    },
}


def label(kind: str, key: str | None, language: str) -> str:
    if key is None:
        return "-"
    pair = _LABELS[kind].get(key)
    if pair is None:
        return key
    return pair[0] if language != "en" else pair[1]
