"""The registry of service centres whose visits citizens rate (issue 13, "Rate your experience").

`Registry.load()` is the one reader of case_store/data/centres.yml (or CASE_STORE_CENTRES),
validated like the catalogue, with messages that name the bad item; every centre's entity must
be in the catalogue. The code is what people type ("RATE 4127"), key in on the IVR and carry in
the Messenger link (ref=rate_4127), so it is short, digits only and unique.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from case_store.catalogue import Catalogue, text_field

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "centres.yml"
CODE = re.compile(r"[0-9]{4}")
STATUSES = ("open", "closed")
GOVERNORATES = (
    "amman", "irbid", "zarqa", "balqa", "mafraq", "jerash", "ajloun", "madaba", "karak", "tafilah", "maan", "aqaba",
)
_ID = re.compile(r"[a-z0-9_]{2,64}")


class CentreError(ValueError):
    pass


@dataclass(frozen=True)
class Centre:
    id: str
    code: str
    entity: str
    sector: str
    name_ar: str
    name_en: str
    governorate: str
    status: str
    illustrative: bool

    @property
    def open(self) -> bool:
        return self.status == "open"

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_ar

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "entity": self.entity,
            "sector": self.sector,
            "name_ar": self.name_ar,
            "name_en": self.name_en,
            "governorate": self.governorate,
            "status": self.status,
            "illustrative": self.illustrative,
        }


def _text(item: dict[str, Any], key: str, where: str) -> str:
    return text_field(item, key, where, CentreError, hint=' (write codes in quotes: code: "4127")')


class Registry:
    def __init__(self, centres: list[Centre]) -> None:
        self.centres = centres
        self.by_code = {c.code: c for c in centres}
        self.by_id = {c.id: c for c in centres}

    @classmethod
    def from_document(cls, doc: Any, catalogue: Catalogue, where: str = "centres.yml") -> Registry:
        if not isinstance(doc, dict) or not isinstance(doc.get("centres"), list):
            raise CentreError(f"{where}: expected a mapping with a 'centres:' list")
        centres: list[Centre] = []
        codes: set[str] = set()
        ids: set[str] = set()
        for i, item in enumerate(doc["centres"]):
            at = f"{where}: centres[{i}]"
            if not isinstance(item, dict):
                raise CentreError(f"{at}: expected a mapping with id, code, entity, name_ar, name_en, governorate")
            cid = _text(item, "id", at)
            at = f"{at} ({cid})"
            if not _ID.fullmatch(cid) or cid in ids:
                raise CentreError(f"{at}: id must be unique, 2-64 characters of a-z, 0-9 and _")
            code = _text(item, "code", at)
            if not CODE.fullmatch(code):
                raise CentreError(f"{at}: code {code!r} must be exactly 4 digits")
            if code in codes:
                raise CentreError(f"{at}: code {code} is used by another centre")
            entity = catalogue.entity_by_id.get(_text(item, "entity", at))
            if entity is None:
                raise CentreError(f"{at}: entity {item.get('entity')!r} is not in the catalogue")
            governorate = _text(item, "governorate", at)
            if governorate not in GOVERNORATES:
                raise CentreError(f"{at}: governorate {governorate!r} is not one of {', '.join(GOVERNORATES)}")
            status = item.get("status", "open")
            if status not in STATUSES:
                raise CentreError(f"{at}: status {status!r} must be open or closed")
            illustrative = item.get("illustrative", False)
            if not isinstance(illustrative, bool):
                raise CentreError(f"{at}: illustrative must be true or false")
            ids.add(cid)
            codes.add(code)
            centres.append(Centre(cid, code, entity.id, entity.sector, _text(item, "name_ar", at), _text(item, "name_en", at),
                                  governorate, status, illustrative))
        return cls(centres)

    @classmethod
    def load(cls, catalogue: Catalogue, path: Path | None = None) -> Registry:
        path = path or Path(os.environ.get("CASE_STORE_CENTRES") or DEFAULT_PATH)
        if not path.exists():
            raise CentreError(f"centre registry not found at {path}; set CASE_STORE_CENTRES or add the file")
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise CentreError(f"{path.name}: not valid YAML ({exc})") from None
        return cls.from_document(doc, catalogue, path.name)
