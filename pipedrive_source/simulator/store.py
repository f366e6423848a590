"""The simulated company: records derived on demand plus a sparse mutation overlay.

``Company(seed, scale, clock)`` holds no base data: a base record is rebuilt from
(seed, id) by ``v1_records.Builders`` whenever it is asked for. Writes, deletes and
merges live in per-entity overlays (``EntityStore.overlay`` id -> current flat record,
``EntityStore.gone`` ids that vanished), so memory stays proportional to the number of
mutations, not to the company size.

Per-entity index arrays are ``array('q')`` (8 bytes per id) built lazily and patched on
every write: update_time in chunks of 65,536 ids as a since/until scan walks past them,
owner (non-admin lists, user_id filters) in one go. They answer windows, owner filters
and ``sort=update_time`` without building records.

Also the test "truth": ``visible(entity)`` yields the current v1 list representation of
every live record, ``count(entity)`` their number.
"""

from __future__ import annotations

import threading
import uuid
from array import array
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from . import v1_small
from .config import scale_deals
from .generator import (
    ADMIN_USER_ID, COMPANY_ID, DAY, REGULAR_USER_ID, N_USERS, Hasher, TimeModel, build_field_meta,
    custom_value_pool, fmt_ts, group_pools, mix, salt_of,
)
from .v1_records import CC_EMAIL, TEMPLATES, Builders, org_name_of

BIG = ("deals", "persons", "organizations", "activities", "products", "notes", "leads")
FIELD_ENTITIES = {"deals": "dealFields", "persons": "personFields", "organizations": "organizationFields",
                  "products": "productFields", "activities": "activityFields", "notes": "noteFields"}
DELETED_DEAL_RETENTION = 30 * DAY
M62 = (1 << 62) - 1


def parse_ts(s: str) -> int | None:
    """'YYYY-MM-DD HH:MM:SS', ISO 8601 with T/Z/offset or a bare date -> epoch seconds."""
    if not isinstance(s, str) or not s.strip():
        return None
    s = s.strip()
    try:
        if len(s) == 10:
            dt = datetime.strptime(s, "%Y-%m-%d")
        else:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


def ts_of(rec: dict) -> int:
    """update_time of a flat record (v1 string or lead ISO) -> epoch seconds (0 if unusable)."""
    v = rec.get("update_time")
    t = parse_ts(v) if v else None
    return t or 0


class EntityStore:
    """One entity: base ids 1..n_base derived by ``gen``, plus overlay/gone.

    ``get(i)`` returns the overlay dict itself (do not mutate it) or a freshly built one.
    """

    def __init__(self, name: str, n_base: int, gen: Callable[[int], dict], *, tm: TimeModel | None = None,
                 owner_fn: Callable[[int], int] | None = None, owner_key: str | None = "user_id") -> None:
        self.name = name
        self.n_base = n_base
        self.gen = gen
        self.tm = tm
        self.owner_fn = owner_fn
        self.owner_key = owner_key
        self.overlay: dict[int, dict] = {}
        self.gone: set[int] = set()
        self.next_id = n_base + 1
        self.version = 0
        self._ut: array | None = None
        self._ut_built = bytearray()
        self._owner: array | None = None
        self._cache: dict[tuple, "array[int]"] = {}

    @property
    def max_id(self) -> int:
        return self.next_id - 1

    def exists(self, i: int) -> bool:
        return i in self.overlay or (1 <= i <= self.n_base and i not in self.gone)

    def get(self, i: int) -> dict | None:
        o = self.overlay.get(i)
        if o is not None:
            return o
        if 1 <= i <= self.n_base and i not in self.gone:
            return self.gen(i)
        return None

    def ids(self) -> Iterator[int]:
        gone = self.gone
        for i in range(1, self.next_id):
            if i not in gone and (i <= self.n_base or i in self.overlay):
                yield i

    # ---------------------------------------------------------------- indexes
    # update_time index: built lazily in chunks of 65,536 ids, so that the first page of a
    # since/until scan only pays for the ids it walks past (not for the whole entity).
    CHUNK_BITS = 16

    def _ut_alloc(self) -> array:
        if self._ut is None:
            self._ut = array("q", bytes(8 * self.next_id))
            self._ut_built = bytearray((self.next_id >> self.CHUNK_BITS) + 1)
        return self._ut

    def ut_chunk(self, k: int) -> None:
        """Fill chunk k of the update_time index (ids k*65536 .. (k+1)*65536-1)."""
        ut = self._ut_alloc()
        bits = self.CHUNK_BITS
        lo, end = max(1, k << bits), min(self.next_id - 1, ((k + 1) << bits) - 1)
        hi = min(self.n_base, end)
        if lo <= hi:
            if self.tm is not None:
                ut[lo:hi + 1] = array("q", self.tm.bulk_update_times(lo, hi))
            else:
                for i in range(lo, hi + 1):
                    ut[i] = ts_of(self.gen(i))
        for i in range(max(lo, self.n_base + 1), end + 1):
            ut[i] = -1  # created ids: set from the overlay below
        for i in self.gone:
            if lo <= i <= end:
                ut[i] = -1
        for i, rec in self.overlay.items():
            if lo <= i <= end:
                ut[i] = ts_of(rec)
        self._ut_built[k] = 1

    def ut_ready(self, i: int) -> array:
        """The index with the chunk holding id i built."""
        ut = self._ut_alloc()
        k = i >> self.CHUNK_BITS
        if not self._ut_built[k]:
            self.ut_chunk(k)
        return ut

    def ut_array(self) -> array:
        """The whole update_time index (index = id; -1 for ids that do not exist)."""
        ut = self._ut_alloc()
        built = self._ut_built
        for k in range(len(built)):
            if not built[k]:
                self.ut_chunk(k)
        return ut

    def owner_array(self) -> array:
        if self._owner is None:
            fn = self.owner_fn
            key = self.owner_key
            if fn is None:
                own = array("q", [0] * (self.n_base + 1))
                for i in range(1, self.n_base + 1):
                    own[i] = _owner_of(self.gen(i), key)
            else:
                own = array("q", [0])
                own.extend(fn(i) for i in range(1, self.n_base + 1))
            own.extend([0] * (self.next_id - len(own)))
            for i, rec in self.overlay.items():
                own[i] = _owner_of(rec, key)
            self._owner = own
        return self._owner

    def update_time_of(self, i: int) -> int:
        o = self.overlay.get(i)
        if o is not None:
            return ts_of(o)
        if self._ut is not None and i < len(self._ut) and self._ut_built[i >> self.CHUNK_BITS]:
            return self._ut[i]
        if self.tm is not None:
            return self.tm.update_time(i)
        return ts_of(self.gen(i))

    # ---------------------------------------------------------------- mutation
    def put(self, i: int, rec: dict) -> None:
        """Store the current flat record of id i (create or update)."""
        if i >= self.next_id:
            self.next_id = i + 1
        self.overlay[i] = rec
        self.gone.discard(i)
        self.version += 1
        self._cache.clear()
        if self._ut is not None:
            if len(self._ut) <= i:
                self._ut.extend([-1] * (i + 1 - len(self._ut)))
                need = (i >> self.CHUNK_BITS) + 1
                if len(self._ut_built) < need:
                    self._ut_built.extend(bytes(need - len(self._ut_built)))
            if self._ut_built[i >> self.CHUNK_BITS]:
                self._ut[i] = ts_of(rec)
        if self._owner is not None:
            if len(self._owner) <= i:
                self._owner.extend([0] * (i + 1 - len(self._owner)))
            self._owner[i] = _owner_of(rec, self.owner_key)

    def remove(self, i: int) -> None:
        """The record vanishes (persons/orgs/products/activities/notes/leads delete or merge)."""
        self.overlay.pop(i, None)
        self.gone.add(i)
        self.version += 1
        self._cache.clear()
        if self._ut is not None and i < len(self._ut):
            self._ut[i] = -1

    def new_id(self) -> int:
        i = self.next_id
        self.next_id += 1
        return i


def _owner_of(rec: dict, key: str | None) -> int:
    if not key:
        return 0
    v = rec.get(key)
    if isinstance(v, dict):
        v = v.get("value", v.get("id"))
    return v if isinstance(v, int) else 0


class Company:
    """Simulated Pipedrive company (see module docstring)."""

    def __init__(self, seed: int = 1, scale: str | int = "small", clock: Any = None) -> None:
        self.seed = int(seed)
        self.scale = scale
        self.clock = clock
        self.lock = threading.RLock()  # writes from server threads
        n = scale_deals(scale)
        self.n_deals = n
        self.n_persons = n
        self.n_orgs = max(1, n // 4)
        self.n_activities = 2 * n
        self.n_products = max(20, n // 50)
        self.n_notes = n
        self.n_leads = max(1, n // 4)
        self.n_users = N_USERS
        self.admin_user_id = ADMIN_USER_ID
        self.regular_user_id = REGULAR_USER_ID
        self.non_admin_user_id = REGULAR_USER_ID  # the user behind the simulator's user_token
        self.company_id = COMPANY_ID
        self._lead_salt = salt_of(self.seed, "lead-uuid")
        sizes = {"deals": self.n_deals, "persons": self.n_persons, "organizations": self.n_orgs,
                 "activities": self.n_activities, "products": self.n_products, "notes": self.n_notes,
                 "leads": self.n_leads}
        self.tm = {e: TimeModel(self.seed, e, sizes[e]) for e in BIG}
        self.deal_template = TEMPLATES["deals"]()
        self.person_template = TEMPLATES["persons"]()
        self.org_template = TEMPLATES["organizations"]()
        self.activity_template = TEMPLATES["activities"]()
        self.product_template = TEMPLATES["products"]()
        self.note_template = TEMPLATES["notes"]()
        # small fixed entities first: pipelines/stages/users feed the builders
        self.small = v1_small.SmallData(self)
        self.pipelines_table = self.small.pipelines_table
        self.pipeline_stages = self.small.pipeline_stages
        self.lead_label_ids = [r["id"] for r in self.small.lead_labels]
        self.b = Builders(self)
        # custom fields
        self.fields: dict[str, list[dict]] = {}
        self._next_opt: dict[str, int] = {}
        self._cf_hash = Hasher(self.seed, "custom-values")
        self.cf_pools: dict[str, dict[str, list[dict]]] = {}
        self.cf_groups: dict[str, list[list[dict]]] = {}
        self.cf_null_tail: dict[str, dict] = {}
        for ent in FIELD_ENTITIES:
            self.fields[ent], self._next_opt[ent] = build_field_meta(self.seed, ent)
            self._rebuild_pools(ent, initial=True)
        self.deal_label_opts = _opts(self.fields["deals"], "label")
        self.person_label_opts = _opts(self.fields["persons"], "label")
        self.org_label_opts = _opts(self.fields["organizations"], "label")
        self.product_category_opts = [1, 2, 3]
        b = self.b
        b.bind()
        self.stores: dict[str, EntityStore] = {
            "deals": EntityStore("deals", self.n_deals, b.deal_flat, tm=self.tm["deals"], owner_fn=b.deal_owner),
            "persons": EntityStore("persons", self.n_persons, b.person_flat, tm=self.tm["persons"],
                                   owner_fn=lambda p: b.owner_table[(b.h_person(p) >> 16) & 255], owner_key="owner_id"),
            "organizations": EntityStore("organizations", self.n_orgs, b.org_flat, tm=self.tm["organizations"],
                                         owner_fn=lambda o: b.owner_table[(b.h_org(o) >> 20) & 255],
                                         owner_key="owner_id"),
            "activities": EntityStore("activities", self.n_activities, b.activity_flat, tm=self.tm["activities"],
                                      owner_fn=lambda a: b.owner_table[(b.h_act(a) >> 16) & 255]),
            "products": EntityStore("products", self.n_products, b.product_flat, tm=self.tm["products"],
                                    owner_key="owner_id"),
            "notes": EntityStore("notes", self.n_notes, b.note_flat, tm=self.tm["notes"],
                                 owner_fn=lambda k: b.owner_table[(b.h_note(k) >> 30) & 255]),
            "leads": EntityStore("leads", self.n_leads, b.lead_flat, tm=self.tm["leads"], owner_key="owner_id"),
        }
        for name, rows in self.small.tables.items():
            self.stores[name] = _small_store(name, rows, self.small.owner_keys.get(name))
        # per-deal children overlays: deal id -> full current list
        self.children: dict[str, dict[int, list[dict]]] = {"products": {}, "participants": {}, "followers": {}}
        self.person_followers: dict[int, list[dict]] = {}
        self.org_followers: dict[int, list[dict]] = {}
        self.deleted_at: dict[int, int] = {}  # deal id -> epoch of deletion
        self.merged_into: dict[tuple[str, int], int] = {}
        self._ref_cache: dict[tuple[str, int], dict] = {}
        self._next_child_id = 10 * self.n_deals + 10
        self.files_per_deal = self.small.files_per_deal

    # ------------------------------------------------------------------ clock
    def now_epoch(self) -> int:
        if self.clock is None:
            return int(datetime.now(timezone.utc).timestamp())
        return int(self.clock.now().timestamp())

    def now_str(self) -> str:
        return fmt_ts(self.now_epoch())

    # ------------------------------------------------------------------ leads: uuid <-> int
    def lead_uuid(self, k: int) -> str:
        hi = mix(self._lead_salt ^ k)
        hi = (hi & ~(0xF << 12)) | (4 << 12)  # version nibble
        lo = ((k ^ mix(hi)) & M62) | (2 << 62)  # variant bits 10
        return str(uuid.UUID(int=(hi << 64) | lo))

    def lead_id_of(self, s: str) -> int | None:
        try:
            u = uuid.UUID(s)
        except (ValueError, AttributeError, TypeError):
            return None
        hi, lo = u.int >> 64, u.int & ((1 << 64) - 1)
        k = (lo & M62) ^ (mix(hi) & M62)
        if k < 1 or k > 10**12 or self.lead_uuid(k) != str(u):
            return None
        return k

    # ------------------------------------------------------------------ custom fields
    def _rebuild_pools(self, ent: str, *, initial: bool = False) -> None:
        b_users = self.small.user_ref
        fields = self.fields[ent]
        pools = self.cf_pools.setdefault(ent, {})
        if initial:
            pn = lambda p: _pname(self, p)  # noqa: E731
            on = lambda o: _oname(self, o)  # noqa: E731
            for f in fields:
                if f["edit_flag"]:
                    pools[f["key"]] = custom_value_pool(f, self._cf_hash, self.n_users, max(1, self.n_deals // 4),
                                                        self.n_deals, pn, on, b_users)
            self.cf_null_tail[ent] = {}
        keys = {f["key"] for f in fields}
        for k in list(pools):
            if k not in keys:
                del pools[k]
        self.cf_groups[ent] = group_pools(fields, pools, self._cf_hash)

    def custom_fields(self, ent: str) -> list[dict]:
        return [f for f in self.fields[ent] if f["edit_flag"]]

    # ------------------------------------------------------------------ references (list shape)
    def user_ref(self, uid: int | None) -> dict | None:
        return None if uid is None else self.small.user_ref(uid)

    def person_ref(self, pid: int | None) -> dict | None:
        if pid is None:
            return None
        key = ("p", pid)
        r = self._ref_cache.get(key)
        if r is None:
            st = self.stores["persons"]
            if pid not in st.overlay and 1 <= pid <= st.n_base and pid not in st.gone:
                b = self.b
                _, _, name, emails, phones, owner = b.person_contact(pid, b.h_person(pid))
                p = {"name": name, "email": emails, "phone": phones, "owner_id": owner}
            else:
                p = st.get(pid)
            if p is None:
                r = {"active_flag": False, "name": self.b.person_name(pid), "email": [{"value": "", "primary": True}],
                     "phone": [{"value": "", "primary": True}], "owner_id": None, "value": pid}
            else:
                r = {"active_flag": True, "name": p["name"], "email": p["email"], "phone": p["phone"],
                     "owner_id": _owner_of(p, "owner_id"), "value": pid}
            if len(self._ref_cache) > 20_000:
                self._ref_cache.clear()
            self._ref_cache[key] = r
        return r.copy()

    def org_ref(self, oid: int | None) -> dict | None:
        if oid is None:
            return None
        key = ("o", oid)
        r = self._ref_cache.get(key)
        if r is None:
            st = self.stores["organizations"]
            if oid not in st.overlay and 1 <= oid <= st.n_base and oid not in st.gone:
                b = self.b
                h = b.h_org(oid)
                o = {"name": org_name_of(h), "owner_id": b.owner_table[(h >> 20) & 255],
                     "address": b.org_address(h), "label_ids": b.org_labels(h)}
            else:
                o = st.get(oid)
            if o is None:
                r = {"name": self.b.org_name(oid), "people_count": 0, "owner_id": None, "address": None,
                     "active_flag": False, "cc_email": CC_EMAIL, "label_ids": [], "owner_name": None, "value": oid}
            else:
                own = _owner_of(o, "owner_id")
                r = {"name": o["name"], "people_count": 1 + (oid % 7), "owner_id": own, "address": o.get("address"),
                     "active_flag": True, "cc_email": CC_EMAIL, "label_ids": o.get("label_ids") or [],
                     "owner_name": self.small.user_name(own), "value": oid}
            if len(self._ref_cache) > 20_000:
                self._ref_cache.clear()
            self._ref_cache[key] = r
        return r.copy()

    def deal_title(self, did: int) -> str | None:
        st = self.stores["deals"]
        o = st.overlay.get(did)
        if o is not None:
            return o.get("title")
        if 1 <= did <= st.n_base and did not in st.gone:
            return self.b.deal_title(did)
        return None

    def invalidate_ref(self, kind: str, i: int) -> None:
        self._ref_cache.pop((kind, i), None)

    # ------------------------------------------------------------------ deal children
    def deal_children(self, kind: str, did: int) -> list[dict]:
        """Current products/participants/followers of deal ``did`` (list shape)."""
        ov = self.children[kind].get(did)
        if ov is not None:
            return ov
        if did > self.n_deals:
            return []
        return v1_small.base_deal_children(self, kind, did)

    def deal_counts(self, did: int, flat: dict) -> dict:
        b = self.b
        ch = self.children
        if did <= self.n_deals:
            np_, npart, nfol = b.deal_base_counts(did)
            acts = b.deal_activity_ids(did)
            done = sum(1 for a in acts if b.activity_done(a))
            notes = 1 if b.note_deal(did) else 0
        else:
            np_ = npart = nfol = 0
            acts, done, notes = [], 0, 0
        if did in ch["products"]:
            np_ = len(ch["products"][did])
        if did in ch["participants"]:
            npart = len(ch["participants"][did])
        if did in ch["followers"]:
            nfol = len(ch["followers"][did])
        return {"products_count": np_, "participants_count": npart, "followers_count": nfol,
                "activities_count": len(acts), "done_activities_count": done,
                "undone_activities_count": len(acts) - done, "notes_count": notes,
                "files_count": self.files_per_deal.get(did, 0), "email_messages_count": 0}

    # ------------------------------------------------------------------ list renderings
    def render(self, entity: str, flat: dict, viewer: int = ADMIN_USER_ID) -> dict:
        """Flat (collection/overlay) record -> the v1 offset-list / detail shape."""
        fn = _RENDER.get(entity)
        return fn(self, flat, viewer) if fn else dict(flat)

    # ------------------------------------------------------------------ visibility
    def deal_state(self, flat: dict, now: int | None = None) -> str:
        """'live', 'deleted' (within 30 days) or 'gone'."""
        if flat.get("status") != "deleted":
            return "live"
        did = flat["id"]
        t = self.deleted_at.get(did)
        now = self.now_epoch() if now is None else now
        if t is None or now - t <= DELETED_DEAL_RETENTION:
            return "deleted"
        return "gone"

    def get_flat(self, entity: str, i: int) -> dict | None:
        """Current flat record or None if it does not exist (deals: also purged deleted ones)."""
        st = self.stores.get(entity)
        if st is None:
            return None
        rec = st.get(i)
        if rec is not None and entity == "deals" and self.deal_state(rec) == "gone":
            return None
        return rec

    def visible(self, entity: str, *, include_deleted_deals: bool = False) -> Iterator[dict]:
        """Truth for tests: the v1 list representation of every live record, id order.

        Takes a snapshot under the company lock (the server thread may be writing meanwhile).
        """
        st = self.stores[entity]
        with self.lock:
            now = self.now_epoch()
            rows = []
            for i in st.ids():
                rec = st.get(i)
                if rec is None:
                    continue
                if entity == "deals":
                    state = self.deal_state(rec, now)
                    if state == "gone" or (state == "deleted" and not include_deleted_deals):
                        continue
                rows.append(self.render(entity, rec))
        yield from rows

    def count(self, entity: str, *, include_deleted_deals: bool = False) -> int:
        st = self.stores[entity]
        with self.lock:
            if entity == "deals":
                return sum(1 for _ in self.visible_ids("deals", include_deleted_deals=include_deleted_deals))
            return sum(1 for _ in st.ids())

    def visible_ids(self, entity: str, *, include_deleted_deals: bool = False) -> Iterator[int]:
        st = self.stores[entity]
        if entity != "deals":
            yield from st.ids()
            return
        now = self.now_epoch()
        ov = st.overlay
        for i in st.ids():
            rec = ov.get(i)
            if rec is not None and rec.get("status") == "deleted":
                state = self.deal_state(rec, now)
                if state == "gone" or not include_deleted_deals:
                    continue
            yield i


def _opts(fields: list[dict], key: str) -> list[int]:
    for f in fields:
        if f["key"] == key:
            return [o["id"] for o in f.get("options") or []]
    return []


def _pname(c: Company, p: int) -> str:
    from .v1_records import person_names
    f, l = person_names(c.b.h_person(p)) if hasattr(c, "b") else ("Anna", "Meyer")
    return f"{f} {l}"


def _oname(c: Company, o: int) -> str:
    from .v1_records import org_name_of
    return org_name_of(c.b.h_org(o)) if hasattr(c, "b") else "Acme"


def _small_store(name: str, rows: list[dict], owner_key: str | None) -> EntityStore:
    """Small tables: store key = position (1..n); the record's own "id" may be a string (uuid)."""
    frozen = list(rows)
    return EntityStore(name, len(frozen), lambda i: dict(frozen[i - 1]), owner_key=owner_key)


# ---------------------------------------------------------------------- renderers
def _render_deal(c: Company, flat: dict, viewer: int) -> dict:
    d = dict(flat)
    did = d["id"]
    uid = d.get("user_id")
    pid = d.get("person_id")
    oid = d.get("org_id")
    small = c.small
    d["creator_user_id"] = small.user_ref(d.get("creator_user_id"))
    d["user_id"] = small.user_ref(uid)
    pref = c.person_ref(pid)
    oref = c.org_ref(oid)
    d["person_id"] = pref
    d["org_id"] = oref
    d.update(c.deal_counts(did, flat))
    d["last_incoming_mail_time"] = None
    d["last_outgoing_mail_time"] = None
    d["stage_order_nr"] = small.stage_order.get(d.get("stage_id"), 0)
    d["person_name"] = pref["name"] if pref else None
    d["org_name"] = oref["name"] if oref else None
    d["next_activity_subject"] = "Follow-up" if d.get("next_activity_id") else None
    d["next_activity_type"] = "call" if d.get("next_activity_id") else None
    d["next_activity_duration"] = None
    d["next_activity_note"] = None
    val = d.get("value") or 0
    cur = d.get("currency") or "EUR"
    prob = d.get("probability")
    weighted = val * prob / 100 if isinstance(prob, (int, float)) else val
    d["formatted_value"] = small.format_money(val, cur)
    d["weighted_value"] = weighted
    d["formatted_weighted_value"] = small.format_money(weighted, cur)
    d["weighted_value_currency"] = cur
    d["rotten_time"] = None
    d["owner_name"] = small.user_name(uid)
    d["cc_email"] = f"{CC_EMAIL.split('@')[0]}+deal{did}@pipedrivemail.com"
    d["org_hidden"] = False
    d["person_hidden"] = False
    return d


def _render_person(c: Company, flat: dict, viewer: int) -> dict:
    d = dict(flat)
    pid = d["id"]
    own = d.get("owner_id")
    oid = d.get("org_id")
    d["owner_id"] = c.small.user_ref(own)
    oref = c.org_ref(oid)
    d["org_id"] = oref
    x = mix(pid * 31 + c.seed) if pid else 0
    opn, won, lost = x % 3, (x >> 3) % 2, (x >> 5) % 2
    d.update({
        "open_deals_count": opn, "related_open_deals_count": 0, "closed_deals_count": won + lost,
        "related_closed_deals_count": 0, "participant_open_deals_count": 0, "participant_closed_deals_count": 0,
        "email_messages_count": 0, "activities_count": (x >> 7) % 4, "done_activities_count": (x >> 7) % 2,
        "undone_activities_count": (x >> 7) % 4 - (x >> 7) % 2, "files_count": 0, "notes_count": (x >> 9) % 3,
        "followers_count": len(c.person_followers.get(pid, ())) if pid in c.person_followers else 1,
        "won_deals_count": won, "related_won_deals_count": 0, "lost_deals_count": lost,
        "related_lost_deals_count": 0, "next_activity_date": None, "next_activity_time": None,
        "next_activity_id": None, "last_activity_id": None, "last_activity_date": None,
        "last_incoming_mail_time": None, "last_outgoing_mail_time": None,
        "org_name": oref["name"] if oref else None, "owner_name": c.small.user_name(own),
        "cc_email": CC_EMAIL,
    })
    return d


def _render_org(c: Company, flat: dict, viewer: int) -> dict:
    d = dict(flat)
    oid = d["id"]
    own = d.get("owner_id")
    d["owner_id"] = c.small.user_ref(own)
    x = mix(oid * 17 + c.seed)
    d.update({
        "open_deals_count": x % 4, "related_open_deals_count": 0, "closed_deals_count": (x >> 3) % 3,
        "related_closed_deals_count": 0, "email_messages_count": 0, "people_count": 1 + oid % 7,
        "activities_count": (x >> 6) % 5, "done_activities_count": (x >> 6) % 3,
        "undone_activities_count": (x >> 6) % 5 - (x >> 6) % 3, "files_count": 0, "notes_count": (x >> 9) % 3,
        "followers_count": len(c.org_followers.get(oid, ())) if oid in c.org_followers else 1,
        "won_deals_count": (x >> 3) % 2, "related_won_deals_count": 0, "lost_deals_count": 0,
        "related_lost_deals_count": 0, "next_activity_date": None, "next_activity_time": None,
        "next_activity_id": None, "last_activity_id": None, "last_activity_date": None,
        "owner_name": c.small.user_name(own), "cc_email": CC_EMAIL,
    })
    return d


def _render_activity(c: Company, flat: dict, viewer: int) -> dict:
    d = dict(flat)
    pref = c.person_ref(d.get("person_id")) if d.get("person_id") else None
    oref = c.org_ref(d.get("org_id")) if d.get("org_id") else None
    did = d.get("deal_id")
    d["org_name"] = oref["name"] if oref else None
    d["person_name"] = pref["name"] if pref else None
    d["deal_title"] = c.deal_title(did) if did else None
    d["owner_name"] = c.small.user_name(d.get("user_id"))
    d["person_dropbox_bcc"] = None
    d["deal_dropbox_bcc"] = None
    d["file"] = None
    d["gcal_event_id"] = None
    d["google_calendar_id"] = None
    d["google_calendar_etag"] = None
    return d


def _render_product(c: Company, flat: dict, viewer: int) -> dict:
    d = dict(flat)
    d["owner_id"] = c.small.user_ref(d.get("owner_id"))
    d["followers_count"] = 1
    return d


def _render_note(c: Company, flat: dict, viewer: int) -> dict:
    d = dict(flat)
    pid, oid, did, lid = d.get("person_id"), d.get("org_id"), d.get("deal_id"), d.get("lead_id")
    d["organization"] = {"name": c.org_ref(oid)["name"]} if oid else None
    d["person"] = {"name": c.person_ref(pid)["name"]} if pid else None
    title = c.deal_title(did) if did else None
    d["deal"] = {"title": title} if title is not None else None
    lead = None
    if lid:
        k = c.lead_id_of(lid)
        lead = c.stores["leads"].get(k) if k else None
    d["lead"] = {"title": lead["title"]} if lead else None
    u = c.small.user(d.get("user_id"))
    d["user"] = {"email": u["email"], "name": u["name"], "icon_url": u["icon_url"],
                 "is_you": u["id"] == viewer} if u else None
    return d


def _render_lead(c: Company, flat: dict, viewer: int) -> dict:
    return dict(flat)


def _render_user(c: Company, flat: dict, viewer: int) -> dict:
    d = dict(flat)
    d["is_you"] = d["id"] == viewer
    return d


_RENDER: dict[str, Callable[[Company, dict, int], dict]] = {
    "deals": _render_deal, "persons": _render_person, "organizations": _render_org,
    "activities": _render_activity, "products": _render_product, "notes": _render_note,
    "leads": _render_lead, "users": _render_user,
}

