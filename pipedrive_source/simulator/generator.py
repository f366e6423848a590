"""Deterministic data generator of the simulated Pipedrive company.

Owns *what* a generated record looks like: every base record is a pure function of
(seed, entity, id). There is no random.Random and no stored base data: a record is
rebuilt on demand from a cheap integer hash (splitmix64) plus precomputed value pools,
which keeps a 1,000,000-deal company in a few MB and a page of 500 deals in ~ms.

Mutations (writes, deletes, merges) are not this module's business: ``store.Company``
keeps them in a sparse overlay and asks this module only for base records.

Timestamps of generated records lie in [2023-01-01, 2026-06-01) UTC whatever the real
clock says, so the same (seed, scale) always yields the same bytes.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any, Callable

M64 = (1 << 64) - 1
T0 = 1672531200  # 2023-01-01 00:00:00 UTC (multiple of 86400)
T_END = 1780272000  # 2026-06-01 00:00:00 UTC
SPAN = T_END - T0
DAY = 86400
ZERO_TS = "0000-00-00 00:00:00"

N_USERS = 10
ADMIN_USER_ID = 1
REGULAR_USER_ID = 2  # the non-admin token's user; owns a subset of records
COMPANY_ID = 7350124
COMPANY_DOMAIN = "simco"

K1 = 0x9E3779B97F4A7C15
K2 = 0xBF58476D1CE4E5B9
K3 = 0x94D049BB133111EB


def mix(x: int) -> int:
    """splitmix64 finalizer: a well-spread 64-bit hash of an integer."""
    x = (x + K1) & M64
    x = ((x ^ (x >> 30)) * K2) & M64
    x = ((x ^ (x >> 27)) * K3) & M64
    return x ^ (x >> 31)


def salt_of(seed: int, name: str) -> int:
    """Stable per-(seed, stream) salt; str hashing is randomized so use blake2."""
    digest = hashlib.blake2b(f"{seed}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


# --------------------------------------------------------------------------- time formatting
_NDAYS = (T_END - T0) // DAY + 800  # dates of planned things may lie after T_END
_DAYS = [time.strftime("%Y-%m-%d", time.gmtime(T0 + k * DAY)) for k in range(_NDAYS)]
_HMS: list[str] = []


def _hms_table() -> list[str]:
    if not _HMS:
        two = [f"{k:02d}" for k in range(60)]
        _HMS.extend([hh + ":" + mm + ":" + ss for hh in two[:24] for mm in two for ss in two])
    return _HMS


def fmt_ts(t: int) -> str:
    """epoch seconds -> 'YYYY-MM-DD HH:MM:SS' (UTC), table-driven for the hot path."""
    d = (t - T0) // DAY
    if 0 <= d < _NDAYS:
        return _DAYS[d] + " " + (_HMS or _hms_table())[t % DAY]
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def fmt_date(t: int) -> str:
    d = (t - T0) // DAY
    if 0 <= d < _NDAYS:
        return _DAYS[d]
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def fmt_iso_ms(t: int) -> str:
    """Leads speak ISO 8601 with milliseconds and Z, like the real API."""
    return fmt_ts(t).replace(" ", "T") + ".000Z"


# --------------------------------------------------------------------------- value pools
FIRST = ("Anna Ben Carla David Eva Felix Greta Hugo Ines Jonas Klara Lukas Mia Noah Olga Paul "
         "Rita Sven Tara Uwe Vera Wim Xenia Yusuf Zoe Aino Bruno Chloe Dario Elif Farid Gina "
         "Henrik Ida Jamal Kaito Lena Mateo Nora Omar Pia Quentin Rosa Sami Tilda Umar Valentina "
         "Wanda Xavier Yara Zeno Ana Björn Céline Dmitri Émile Fatima Göran Hana Ilse José Kåre").split()
LAST = ["Meyer", "Schmidt", "Novak", "Rossi", "Garcia", "Silva", "Jensen", "Kowalski", "Dubois", "Smith", "Müller",
        "Nakamura", "Andersson", "Costa", "Fischer", "Horvat", "Ivanova", "Johansson", "Keller", "Laine", "Moreau",
        "Nielsen", "Oliveira", "Petrov", "Quinn", "Richter", "Santos", "Tanaka", "Urban", "Vogel", "Weber", "Young",
        "Zimmermann", "O'Brien", "Van Dijk", "De la Cruz", "Øvergaard", "Łukasiewicz", "Ştefănescu", "Nguyen", "Kim",
        "Chen", "Singh", "Patel", "Haddad", "Okafor", "Mensah", "Bauer", "Wolf", "Kaya", "Demir", "Varga", "Hill",
        "Brown", "Walker", "Lee", "Kovač", "Novák", "Berg", "Lind"]
CO_A = ("Acme Globex Initech Umbrella Stark Wayne Hooli Vandelay Soylent Tyrell Cyberdyne Wonka "
        "Nordic Baltic Alpine Coastal Urban Rapid Bright Silver Green Blue Red Iron Polar Solar "
        "Lunar Quantum Pixel Vertex").split()
CO_B = ("Industries Labs Logistics Foods Media Systems Partners Analytics Robotics Energy "
        "Consulting Health Motors Textiles Software Holdings").split()
CO_SUFFIX = ["GmbH", "Ltd", "Inc.", "AB", "Oy", "S.A.", "B.V.", "", "LLC", "AS"]
INDUSTRIES = ["Software", "Manufacturing", "Retail", "Finance", "Healthcare", "Logistics", "Media", None]
# (locality, sublocality, admin1, admin2, country, country_code, postal prefix, route)
CITIES = [
    ("Tallinn", "Kesklinn", "Harju maakond", "Tallinn", "Estonia", "EE", "10", "Narva mnt"),
    ("Berlin", "Mitte", "Berlin", "Berlin", "Germany", "DE", "101", "Friedrichstraße"),
    ("London", "Camden", "England", "Greater London", "United Kingdom", "GB", "NW1 ", "Euston Road"),
    ("New York", "Manhattan", "New York", "New York County", "United States", "US", "100", "Broadway"),
    ("Lisbon", "Baixa", "Lisboa", "Lisboa", "Portugal", "PT", "1100-", "Rua Augusta"),
    ("Tokyo", "Shibuya", "Tokyo", "Shibuya City", "Japan", "JP", "150-", "Meiji-dori"),
    ("São Paulo", "Pinheiros", "São Paulo", "São Paulo", "Brazil", "BR", "05422-", "Rua dos Pinheiros"),
    ("Kraków", "Stare Miasto", "Małopolskie", "Kraków", "Poland", "PL", "31-", "Floriańska"),
    ("Austin", "Downtown", "Texas", "Travis County", "United States", "US", "787", "Congress Ave"),
    ("Helsinki", "Kamppi", "Uusimaa", "Helsinki", "Finland", "FI", "00", "Mannerheimintie"),
]
CURRENCIES = [
    # id, code, name, symbol, decimal_points, is_custom_flag, active_flag
    (1, "EUR", "Euro", "€", 2), (2, "USD", "US Dollar", "$", 2), (3, "GBP", "British Pound", "£", 2),
    (4, "SEK", "Swedish Krona", "kr", 2), (5, "JPY", "Japanese Yen", "¥", 0), (6, "BRL", "Brazilian Real", "R$", 2),
    (7, "PLN", "Polish Zloty", "zł", 2), (8, "CHF", "Swiss Franc", "CHF", 2),
]
DEAL_CURRENCIES = ["EUR", "EUR", "EUR", "USD", "USD", "GBP", "SEK", "JPY"]
EMAIL_LABELS = ["work", "home", "other"]
PHONE_LABELS = ["work", "mobile", "home", "other"]
ACTIVITY_TYPES = [  # id, key_string, name, icon_key
    (1, "call", "Call", "call"), (2, "meeting", "Meeting", "meeting"), (3, "task", "Task", "task"),
    (4, "deadline", "Deadline", "deadline"), (5, "email", "Email", "email"), (6, "lunch", "Lunch", "lunch"),
    (7, "demo", "Product demo", "presentation"), (8, "follow_up", "Follow-up", "task"),
]
PRODUCT_WORDS = ("Pro Basic Enterprise Cloud Widget Sensor Module Licence Support Training Gateway "
                 "Dashboard Connector Analytics Storage").split()
LOST_REASONS = [None, None, "Price too high", "Went with competitor", "No budget", "No response", ""]
ORIGINS = ["ManuallyCreated", "ManuallyCreated", "Import", "API", "WebForms", "Prospector", "LeadBooster"]
NOTE_SNIPPETS = [
    "<p>Called, left voicemail.</p>", "Discussed pricing &amp; timeline", "<b>Next step:</b> send proposal",
    "Met at the trade fair — very interested.", "", "Budget approved for Q3 🚀",
    "<ul><li>needs SSO</li><li>needs API access</li></ul>", "Follow up after the holidays",
    "Ünïcödé test — ß, ø, 漢字", "Asked for references",
]
SUBJECTS = ["Intro call", "Demo", "Follow-up", "Send proposal", "Contract review", "Lunch", "Kick-off",
            "Check-in", "Renewal talk", "Discovery call"]
DEAL_WORDS = ["expansion", "renewal", "pilot", "upsell", "new business", "licence deal", "rollout", "POC"]


class Hasher:
    """Per-(seed, stream) hashing: h(i) is a 64-bit well-mixed value."""

    __slots__ = ("salt",)

    def __init__(self, seed: int, stream: str) -> None:
        self.salt = salt_of(seed, stream)

    def __call__(self, i: int) -> int:
        return mix(self.salt ^ (i * K1 & M64))


def cheap_stream(seed: int, stream: str) -> tuple[int, int]:
    """Constants for the cheap vectorisable hash used by index arrays (see cheap_hash)."""
    s = salt_of(seed, stream)
    return s | 1, (s >> 7) & M64


def cheap_hash(i: int, a: int, b: int) -> int:
    """Two multiplies and an xor-shift; identical in scalar and bulk form."""
    x = ((i * K1 + b) & M64) * a & M64
    return x ^ (x >> 29)


def make_uuid(seed: int, stream: str, i: int) -> str:
    """Deterministic UUID4-shaped id derived from (seed, stream, i)."""
    h1 = mix(salt_of(seed, stream) ^ i)
    h2 = mix(h1 ^ 0x5555)
    return str(uuid.UUID(int=(h1 << 64) | h2, version=4))


def field_key(seed: int, entity: str, idx: int) -> str:
    """40-hex custom field key like Pipedrive's."""
    return hashlib.sha1(f"{seed}:{entity}:custom:{idx}".encode()).hexdigest()


# --------------------------------------------------------------------------- timestamps from id
class TimeModel:
    """add_time grows with id (ids are handed out in creation order); update_time >= add_time.

    Both are computed by the same cheap hash in scalar (``update_time``) and bulk
    (``bulk_update_times``) form so the index arrays and the records always agree.
    """

    __slots__ = ("n", "a", "b")

    def __init__(self, seed: int, entity: str, n: int) -> None:
        self.n = max(n, 1)
        self.a, self.b = cheap_stream(seed, "time:" + entity)

    def add_time(self, i: int) -> int:
        x = cheap_hash(i, self.a, self.b)
        return T0 + ((i - 1) * (SPAN - 40 * DAY)) // self.n + ((x >> 40) % 7200)

    def update_time(self, i: int) -> int:
        x = cheap_hash(i, self.a, self.b)
        add = T0 + ((i - 1) * (SPAN - 40 * DAY)) // self.n + ((x >> 40) % 7200)
        if (x >> 20) & 3 == 0:
            return add
        return add + (((x >> 24) & 0xFFFF) * (T_END - 1 - add) >> 16)

    def bulk_update_times(self, lo: int, hi: int) -> list[int]:
        """update_time of ids lo..hi (inclusive), same formula as ``update_time``."""
        a, b, n = self.a, self.b, self.n
        sp = SPAN - 40 * DAY
        ids = range(lo, hi + 1)
        xs = [((((i * K1 + b) & M64) * a & M64)) for i in ids]
        xs = [x ^ (x >> 29) for x in xs]
        adds = [T0 + ((i - 1) * sp) // n + ((x >> 40) % 7200) for i, x in zip(ids, xs, strict=True)]
        return [ad if (x >> 20) & 3 == 0 else ad + (((x >> 24) & 0xFFFF) * (T_END - 1 - ad) >> 16)
                for ad, x in zip(adds, xs, strict=True)]


def weighted_table(pairs: list[tuple[Any, int]], size: int = 256) -> list[Any]:
    """Expand (value, weight) pairs into a lookup table indexed by 8 hash bits."""
    total = sum(w for _, w in pairs)
    table: list[Any] = []
    for v, w in pairs:
        table.extend([v] * (w * size // total))
    while len(table) < size:
        table.append(pairs[0][0])
    return table[:size]


# --------------------------------------------------------------------------- custom fields
CUSTOM_SPECS: dict[str, list[tuple[str, str]]] = {}


def _specs(system_clash: str) -> list[tuple[str, str]]:
    """(name, field_type) of the custom fields every big entity carries."""
    return [
        ("Contract value", "monetary"), ("Region", "enum"), ("Tags", "set"), ("Account manager", "user"),
        ("Partner organization", "org"), ("Referrer", "people"), ("Background", "text"),
        ("Reference code", "varchar"), ("Score", "double"), ("Seats", "int"), ("Hotline", "phone"),
        ("Renewal date", "date"), ("Contract period", "daterange"), ("Call window", "timerange"),
        ("Preferred time", "time"), ("Billing address", "address"), (system_clash, "double"),
        ("Source", "varchar"), ("Source", "enum"), ("Legacy ID", "varchar"), ("Nickname", "varchar_auto"),
    ]


CLASH = {"deals": "Value", "persons": "Name", "organizations": "Name", "products": "Price", "activities": "Subject"}
INACTIVE_NAME = "Legacy ID"
FIELD_ID_BASE = {"deals": 12000, "persons": 9000, "organizations": 4000, "products": 20000,
                 "activities": 30000, "notes": 40000}
ENUM_LABELS = {
    "Region": ["EMEA", "NA", "LATAM", "APAC", "Nordics"],
    "Tags": ["hot", "cold", "VIP", "partner", "churn-risk", "upsell"],
    "Source": ["Website", "Referral", "Event", "Cold call"],
}


def system_fields(entity: str) -> list[tuple[str, str, str]]:
    """(key, name, field_type) of the non-custom fields shown by /xxxFields."""
    common = [("id", "ID", "int"), ("add_time", "Created", "date"), ("update_time", "Update time", "date")]
    per = {
        "deals": [("title", "Title", "varchar"), ("creator_user_id", "Creator", "user"),
                  ("user_id", "Owner", "user"), ("value", "Value", "monetary"), ("currency", "Currency", "varchar"),
                  ("weighted_value", "Weighted value", "monetary"), ("probability", "Probability", "double"),
                  ("org_id", "Organization", "org"), ("pipeline", "Pipeline", "double"),
                  ("person_id", "Contact person", "people"), ("stage_id", "Stage", "stage"),
                  ("status", "Status", "status"), ("close_time", "Deal closed on", "date"),
                  ("won_time", "Won time", "date"), ("lost_time", "Lost time", "date"),
                  ("lost_reason", "Lost reason", "varchar"), ("visible_to", "Visible to", "visible_to"),
                  ("expected_close_date", "Expected close date", "date"), ("label", "Label", "enum"),
                  ("products_count", "Number of products", "int"), ("activities_count", "Total activities", "int"),
                  ("origin", "Source origin", "varchar"), ("channel", "Source channel", "enum")],
        "persons": [("name", "Name", "varchar"), ("first_name", "First name", "varchar"),
                    ("last_name", "Last name", "varchar"), ("org_id", "Organization", "org"),
                    ("owner_id", "Owner", "user"), ("email", "Email", "varchar"), ("phone", "Phone", "phone"),
                    ("label", "Label", "enum"), ("visible_to", "Visible to", "visible_to"),
                    ("open_deals_count", "Open deals", "int"), ("job_title", "Job title", "varchar")],
        "organizations": [("name", "Name", "varchar"), ("owner_id", "Owner", "user"),
                          ("address", "Address", "address"), ("label", "Label", "enum"),
                          ("visible_to", "Visible to", "visible_to"), ("people_count", "People", "int"),
                          ("website", "Website", "varchar"), ("industry", "Industry", "enum")],
        "products": [("name", "Name", "varchar"), ("code", "Product code", "varchar"),
                     ("unit", "Unit", "varchar"), ("tax", "Tax", "double"), ("category", "Category", "enum"),
                     ("active_flag", "Active", "enum"), ("owner_id", "Owner", "user"), ("prices", "Price", "double")],
        "activities": [("subject", "Subject", "varchar"), ("type", "Type", "enum"), ("done", "Done", "enum"),
                       ("due_date", "Due date", "date"), ("due_time", "Due time", "time"),
                       ("duration", "Duration", "time"), ("user_id", "Assigned to user", "user"),
                       ("deal_id", "Deal", "double"), ("person_id", "Contact person", "people"),
                       ("org_id", "Organization", "org"), ("note", "Note", "text")],
        "notes": [("content", "Content", "text"), ("deal_id", "Deal", "double"),
                  ("person_id", "Person", "people"), ("org_id", "Organization", "org"),
                  ("user_id", "User", "user"), ("pinned_to_deal_flag", "Pinned to deal", "enum")],
    }
    return common + per[entity]


def build_field_meta(seed: int, entity: str) -> tuple[list[dict], int]:
    """Field metadata list of /xxxFields for an entity, plus the next free option id."""
    fields: list[dict] = []
    base = FIELD_ID_BASE[entity]
    order = 0
    next_opt = base * 10 + 1
    label_opts = [("Hot", "red"), ("Warm", "yellow"), ("Cold", "blue")]
    for key, name, ftype in system_fields(entity):
        order += 1
        f = field_meta_dict(base + order, key, name, ftype, order, custom=False, active=True)
        if key == "label":
            f["options"] = [{"id": next_opt + k, "label": lbl, "color": c} for k, (lbl, c) in enumerate(label_opts)]
            next_opt += len(label_opts)
        fields.append(f)
    if entity in CLASH:
        for idx, (name, ftype) in enumerate(_specs(CLASH[entity])):
            order += 1
            f = field_meta_dict(base + order, field_key(seed, entity, idx), name, ftype, order,
                                custom=True, active=(name != INACTIVE_NAME))
            if ftype in ("enum", "set"):
                labels = ENUM_LABELS["Tags" if ftype == "set" else name if name in ENUM_LABELS else "Region"]
                f["options"] = [{"id": next_opt + k, "label": lbl} for k, lbl in enumerate(labels)]
                next_opt += len(labels)
            fields.append(f)
    return fields, next_opt


def field_meta_dict(fid: int, key: str, name: str, ftype: str, order: int, *, custom: bool, active: bool) -> dict:
    return {
        "id": fid, "key": key, "name": name, "order_nr": order, "field_type": ftype,
        "json_column_flag": custom, "add_time": "2023-01-01 09:12:44",
        "update_time": "2023-01-01 09:12:44" if not custom else "2023-02-14 10:01:02",
        "last_updated_by_user_id": ADMIN_USER_ID if custom else None,
        "created_by_user_id": ADMIN_USER_ID if custom else None,
        "active_flag": active, "edit_flag": custom, "index_visible_flag": True, "details_visible_flag": True,
        "add_visible_flag": custom or key in ("title", "name"), "important_flag": False, "bulk_edit_allowed": True,
        "searchable_flag": ftype in ("varchar", "text", "phone", "address", "varchar_auto"),
        "filtering_allowed": True, "sortable_flag": True, "mandatory_flag": key in ("title", "name"),
        "is_subfield": False,
    }


def custom_value_pool(field: dict, h: Hasher, n_users: int, n_orgs: int, n_persons: int,
                      person_name: Callable[[int], str], org_name: Callable[[int], str],
                      user_obj: Callable[[int], dict], size: int = 64) -> list[dict]:
    """``size`` precomputed {key: value, key_companion: value} dicts for one custom field.

    The pool carries the dirt real accounts have: nulls, empty strings, zero dates and an
    enum option id that no longer exists in the field's options.
    """
    key, ftype = field["key"], field["field_type"]
    fid = field["id"]
    out: list[dict] = []
    opts = [o["id"] for o in field.get("options") or []]
    deleted_opt = (max(opts) + 1000) if opts else None
    for k in range(size):
        x = h(fid * 1000 + k)
        r = x & 255
        if k in (7, 41):
            r = 250  # guaranteed dirt entries: deleted option ids, zero dates, empty strings
        elif k in (3, 29, 55):
            r = 0  # guaranteed nulls
        nul = r < 26  # ~10% null
        y = x >> 8
        if ftype == "monetary":
            cur = DEAL_CURRENCIES[y % len(DEAL_CURRENCIES)] if not nul else None
            amt = None if nul else (y >> 8) % 200000 / (1 if (y >> 30) & 1 else 4)
            out.append({key: amt, key + "_currency": cur})
        elif ftype in ("daterange", "timerange"):
            if nul:
                out.append({key: None, key + "_until": None})
                continue
            if ftype == "daterange":
                t = T0 + (y % (SPAN // DAY)) * DAY
                out.append({key: fmt_date(t), key + "_until": fmt_date(t + ((y >> 20) % 400) * DAY)})
            else:
                s = (y % 40 + 16) * 900
                until = min(s + 3600 + (y >> 12) % 7 * 900, 86399)
                out.append({key: _hms_table()[s], key + "_until": _hms_table()[until]})
        elif ftype == "address":
            if nul:
                d = {key: None}
                for sub in ADDRESS_SUBKEYS:
                    d[key + "_" + sub] = None
                out.append(d)
            else:
                out.append(address_dict(key + "_", y, bare_key=key))
        elif ftype == "enum":
            if nul:
                v = None
            elif r > 240 and deleted_opt:
                v = deleted_opt  # option deleted from the field, still on records
            else:
                v = opts[y % len(opts)]
            out.append({key: v})
        elif ftype == "set":
            if nul:
                v = None
            else:
                cnt = 1 + y % 3
                chosen = sorted({opts[(y >> (4 * j)) % len(opts)] for j in range(cnt)})
                if r > 245:
                    chosen.append(deleted_opt)
                v = ",".join(str(c) for c in chosen)
            out.append({key: v})
        elif ftype == "user":
            out.append({key: None if nul else user_obj(1 + y % n_users)})
        elif ftype == "org":
            if nul:
                out.append({key: None})
            else:
                oid = 1 + y % n_orgs
                out.append({key: {"name": org_name(oid), "people_count": 1 + y % 5, "owner_id": 1 + y % n_users,
                                  "address": None, "active_flag": True,
                                  "cc_email": f"{COMPANY_DOMAIN}@pipedrivemail.com",
                                  "value": oid}})
        elif ftype == "people":
            if nul:
                out.append({key: None})
            else:
                pid = 1 + y % n_persons
                out.append({key: {"active_flag": True, "name": person_name(pid),
                                  "email": [{"value": "", "primary": True}], "phone": [{"value": "", "primary": True}],
                                  "owner_id": 1 + y % n_users, "value": pid}})
        elif ftype == "double":
            out.append({key: None if nul else round((y % 1_000_000) / 100, 2)})
        elif ftype == "int":
            out.append({key: None if nul else y % 5000})
        elif ftype == "date":
            if nul:
                v = None
            elif r > 245:
                v = "0000-00-00"
            else:
                v = fmt_date(T0 + (y % (SPAN // DAY)) * DAY)
            out.append({key: v})
        elif ftype == "time":
            out.append({key: None if nul else ("" if r > 245 else _hms_table()[(y % 96) * 900])})
        elif ftype == "phone":
            phone = f"+{1 + y % 98} {y % 900 + 100} {(y >> 10) % 9000000 + 1000000}"
            out.append({key: None if nul else ("" if r > 240 else phone)})
        elif ftype == "text":
            out.append({key: None if nul else ("" if r > 240 else NOTE_SNIPPETS[y % len(NOTE_SNIPPETS)])})
        else:  # varchar, varchar_auto
            out.append({key: None if nul else ("" if r > 235 else f"{field['name'][:3].upper()}-{y % 100000:05d}")})
    return out


ADDRESS_SUBKEYS = ["subpremise", "street_number", "route", "sublocality", "locality", "admin_area_level_1",
                   "admin_area_level_2", "country", "postal_code", "formatted_address"]


def address_dict(prefix: str, y: int, *, bare_key: str) -> dict:
    """A full address with all sub-keys (`prefix` + sub-key) and the bare formatted value."""
    c = CITIES[y % len(CITIES)]
    num = str(1 + (y >> 8) % 180)
    sub = str((y >> 16) % 40) if (y >> 22) & 3 == 0 else None
    postal = c[6] + f"{(y >> 12) % 900 + 100}"
    formatted = f"{c[7]} {num}, {postal} {c[0]}, {c[4]}"
    return {bare_key: formatted, prefix + "subpremise": sub, prefix + "street_number": num, prefix + "route": c[7],
            prefix + "sublocality": c[1], prefix + "locality": c[0], prefix + "admin_area_level_1": c[2],
            prefix + "admin_area_level_2": c[3], prefix + "country": c[4], prefix + "postal_code": postal,
            prefix + "formatted_address": formatted}


def group_pools(fields: list[dict], pools: dict[str, list[dict]], h: Hasher, n_groups: int = 4,
                size: int = 64) -> list[list[dict]]:
    """Combine per-field pools into ``n_groups`` pools of merged dicts.

    A record picks one entry per group from its hash: 64**4 combinations, one dict.update
    per group. An entry's value for a field depends only on (field, entry), so deleting
    or adding another field never changes the values of the rest.
    """
    custom = [f for f in fields if f["edit_flag"] and f["key"] in pools]
    groups: list[list[dict]] = []
    for g in range(n_groups):
        members = [f for f in custom if f["id"] % n_groups == g]  # stable when other fields come and go
        entries = []
        for k in range(size):
            d: dict = {}
            for f in members:
                pool = pools[f["key"]]
                d.update(pool[h(f["id"] * 7919 + k * 31 + g) % len(pool)])
            entries.append(d)
        groups.append(entries)
    return groups
