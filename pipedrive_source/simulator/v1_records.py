"""Base-record builders of the big entities (deals, persons, organizations, activities,
products, notes, leads) and their v1 renderings.

Two shapes per entity, like the real API:
- *flat* = the ``/collection`` shape: references are plain ids, no counters or names.
  This is also what the mutation overlay stores.
- *list* = the ``GET /deals`` (offset list / ``/{id}``) shape: references become objects
  with ``value`` (deals, persons, organizations, products), counters and names are added.

Builders are closures created once per Company with everything they need bound to
locals, because the hot path (500 deals per page, 150 pages/s) has ~10 µs per record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .generator import (
    CO_A, CO_B, CO_SUFFIX, COMPANY_DOMAIN, COMPANY_ID, DAY, DEAL_CURRENCIES, DEAL_WORDS, FIRST,
    INDUSTRIES, LAST, LOST_REASONS, NOTE_SNIPPETS, ORIGINS, PHONE_LABELS, PRODUCT_WORDS, SUBJECTS, T_END, ZERO_TS,
    CITIES, ACTIVITY_TYPES, K1, K2, K3, M64, SPAN, T0, Hasher, address_dict, cheap_stream, fmt_date, fmt_iso_ms,
    fmt_ts, mix, weighted_table,
)

if TYPE_CHECKING:
    from .store import Company

CC_EMAIL = f"{COMPANY_DOMAIN}@pipedrivemail.com"


def person_names(h: int) -> tuple[str, str]:
    return FIRST[h % len(FIRST)], LAST[(h >> 8) % len(LAST)]


def org_name_of(h: int) -> str:
    suffix = CO_SUFFIX[(h >> 16) % len(CO_SUFFIX)]
    base = f"{CO_A[h % len(CO_A)]} {CO_B[(h >> 8) % len(CO_B)]}"
    return f"{base} {suffix}" if suffix else base


def _slug(s: str) -> str:
    return "".join(ch for ch in s.lower() if ch.isalnum()) or "x"


_FIRST_SLUG = {n: _slug(n) for n in FIRST}
_LAST_SLUG = {n: _slug(n) for n in LAST}
_CO_SLUG = [_slug(n) for n in CO_A]


class Builders:
    """Per-company record builders (see module docstring)."""

    def __init__(self, c: "Company") -> None:
        self.c = c
        seed = c.seed
        self.h_deal = Hasher(seed, "deal")
        self.h_person = Hasher(seed, "person")
        self.h_org = Hasher(seed, "org")
        self.h_act = Hasher(seed, "activity")
        self.h_prod = Hasher(seed, "product")
        self.h_note = Hasher(seed, "note")
        self.h_lead = Hasher(seed, "lead")
        self.h_child = Hasher(seed, "child")
        users = list(range(1, c.n_users + 1))
        # user 1 (admin) and user 2 (non-admin token) own clear subsets
        self.owner_table = weighted_table([(u, 30 if u == 1 else 12 if u == 2 else 8) for u in users])

    # ------------------------------------------------------------------ cheap refs
    def deal_person(self, i: int) -> int | None:
        x = self.h_deal(i) >> 20
        if x % 25 == 0:
            return None
        return 1 + x % self.c.n_persons

    def person_org(self, p: int) -> int | None:
        """Organization of a base person (cheap hash, shared with deal_flat's inline copy)."""
        y = ((p * K1 + self._po_b) & M64) * self._po_a & M64
        return None if (y >> 40) % 6 == 0 else 1 + (y >> 20) % self._no

    def deal_owner(self, i: int) -> int:
        return self.owner_table[(self.h_deal(i) >> 4) & 255]

    def person_name(self, p: int) -> str:
        f, l = person_names(self.h_person(p))
        return f"{f} {l}"

    def org_name(self, o: int) -> str:
        return org_name_of(self.h_org(o))

    def activity_deal(self, a: int) -> int | None:
        x = self.h_act(a)
        if x & 7 >= 5:
            return None
        return (a - 1) % self.c.n_deals + 1

    def activity_done(self, a: int) -> bool:
        return (self.h_act(a) >> 3) & 3 != 0

    def note_deal(self, k: int) -> int | None:
        if k > self.c.n_deals or self.h_note(k) & 1:
            return None
        return k

    # ------------------------------------------------------------------ deals
    def _deal_misc_pool(self) -> list[dict]:
        """1024 precomputed combinations of the deal fields that depend only on hash bits."""
        c = self.c
        hm = Hasher(c.seed, "deal-misc")
        pool = []
        for k in range(1024):
            h = hm(k)
            stat = h % 20
            status = "open" if stat < 11 else "won" if stat < 16 else "lost"
            pipe = c.pipelines_table[(h >> 8) & 15]
            stages = c.pipeline_stages[pipe]
            y = h >> 16
            title = f"{org_name_of(mix(h))} {DEAL_WORDS[(h >> 54) % 8]}" if k % 97 else ""
            pool.append({
                "stage_id": stages[(h >> 12) % len(stages)], "title": title,
                "value": ((h >> 40) % 2000) * 50 if (h >> 51) % 9 else 0,
                "currency": DEAL_CURRENCIES[(h >> 36) % len(DEAL_CURRENCIES)],
                "active": status == "open", "status": status,
                "probability": None if y % 5 else (y >> 3) % 101,
                "lost_reason": LOST_REASONS[(y >> 11) % len(LOST_REASONS)] if status == "lost" else None,
                "visible_to": "3" if (y >> 14) % 5 else "1", "pipeline_id": pipe,
                "label": str(c.deal_label_opts[(y >> 20) % len(c.deal_label_opts)]) if (y >> 23) % 3 == 0 else None,
                "origin": ORIGINS[(y >> 25) % len(ORIGINS)],
            })
        return pool

    def deal_flat(self, i: int) -> dict:
        """Base deal, collection shape. Hot path: one splitmix, pools, inline formatting."""
        # inline splitmix64 of (salt ^ i*K1)
        h = (self.h_deal.salt ^ (i * K1 & M64)) + K1 & M64
        h = ((h ^ (h >> 30)) * K2) & M64
        h = ((h ^ (h >> 27)) * K3) & M64
        h ^= h >> 31
        # add/update time (TimeModel, inlined)
        x = ((i * K1 + self._td_b) & M64) * self._td_a & M64
        x ^= x >> 29
        add = T0 + ((i - 1) * self._sp_deal) // self._td_n + ((x >> 40) % 7200)
        upd = add if (x >> 20) & 3 == 0 else add + (((x >> 24) & 0xFFFF) * (T_END - 1 - add) >> 16)
        days, days_sp, hms = self._days, self._days_sp, self._hms
        d = self._deal_base[(h >> 8) & 1023].copy()
        d.update(self._deal_cf[(h >> 18) & 4095])
        owner = self.owner_table[(h >> 4) & 255]
        xp = h >> 20
        if xp % 25:
            person = 1 + xp % self._np
            y = ((person * K1 + self._po_b) & M64) * self._po_a & M64
            org = None if (y >> 40) % 6 == 0 else 1 + (y >> 20) % self._no
        else:
            person = None
            org = None if xp % 3 else 1 + xp % self._no
        d["id"] = i
        d["creator_user_id"] = owner if (h >> 52) & 3 else 1
        d["user_id"] = owner
        d["person_id"] = person
        d["org_id"] = org
        ad = (add - T0) // 86400
        d["add_time"] = days_sp[ad] + hms[add % 86400]
        d["update_time"] = days_sp[(upd - T0) // 86400] + hms[upd % 86400]
        life = upd - add
        if life > 3600:
            sc = add + (life * ((h >> 44) & 255) >> 8)
            d["stage_change_time"] = days_sp[(sc - T0) // 86400] + hms[sc % 86400] if (h >> 57) % 97 else ZERO_TS
        status = d["status"]
        if status != "open":
            ct = add + (life * (200 + ((h >> 48) & 55)) >> 8)
            close = days_sp[(ct - T0) // 86400] + hms[ct % 86400]
            d["close_time"] = close
            d["local_close_date"] = close[:10]
            if status == "won":
                d["won_time"] = d["first_won_time"] = close
                d["local_won_date"] = close[:10]
            else:
                d["lost_time"] = close
                d["local_lost_date"] = close[:10]
        elif (h >> 2) & 1:
            d["next_activity_date"] = days[(upd - T0) // 86400 + ((h >> 33) % 60)]
            d["next_activity_time"] = None if (h >> 39) & 1 else "10:00:00"
            d["next_activity_id"] = i
        if (h >> 40) & 1 and i + self._nd <= self._na:
            d["last_activity_id"] = i + self._nd
            d["last_activity_date"] = days[max(ad, (upd - T0) // 86400 - 1)]
        if (h >> 45) & 3:
            d["expected_close_date"] = days[ad + ((h >> 47) % 180)]
        return d

    def bind(self) -> None:
        """Cache per-company constants and merged pools for the hot path (call again after fields change).

        A base record is ``base[k].copy()`` (template + hash-only system fields + custom group 0 + nulls
        of fields added later) updated with one entry of the 64x64 custom groups 1+2 pool and one of
        group 3: a dict copy is much cheaper than inserting the same keys one by one.
        """
        c = self.c
        from .generator import _hms_table, _DAYS
        self._days = _DAYS
        self._hms = _hms_table()
        self._tm_deal = c.tm["deals"]
        self._sp_deal = SPAN - 40 * DAY
        self._np, self._no, self._nd, self._na = c.n_persons, c.n_orgs, c.n_deals, c.n_activities
        self._po_a, self._po_b = cheap_stream(c.seed, "person-org")
        if not hasattr(self, "_deal_misc"):
            self._deal_misc = self._deal_misc_pool()
            self._person_misc = self._person_misc_pool()
            self._act_misc = self._activity_misc_pool()
        self._user_email = {u["id"]: u["email"] for u in c.small.users}
        self._tm_person = c.tm["persons"]
        self._tm_act = c.tm["activities"]
        self._tm_org = c.tm["organizations"]
        pools = {}
        for ent, tpl, misc in (("deals", c.deal_template, self._deal_misc),
                               ("persons", c.person_template, self._person_misc),
                               ("activities", c.activity_template, self._act_misc),
                               ("organizations", c.org_template, None)):
            cg = c.cf_groups[ent]
            tail = c.cf_null_tail[ent]
            base = []
            for k in range(len(misc) if misc else 64):
                d = tpl.copy()
                if misc:
                    d.update(misc[k])
                d.update(cg[0][k & 63])
                d.update(tail)
                base.append(d)
            cf12 = []
            for a in range(64):
                for b in range(64):
                    e = dict(cg[1][a])
                    e.update(cg[2][b])
                    cf12.append(e)
            pools[ent] = (base, cf12, cg[3])
        self._pools = pools
        # deals, the hottest path: group 3 folded into the base pool too (one update less per record)
        base, cf12, cf3 = pools["deals"]
        self._deal_base = [dict(b, **cf3[(k >> 4) & 63]) for k, b in enumerate(base)]
        self._deal_cf = cf12
        tm = c.tm["deals"]
        self._td_a, self._td_b, self._td_n = tm.a, tm.b, tm.n
        self._days_sp = [d + " " for d in self._days]

    def deal_misc(self, i: int) -> dict:
        """The hash-only system fields (title, status, stage_id, ...) of a base deal, without building it."""
        return self._deal_misc[(self.h_deal(i) >> 8) & 1023]

    def deal_title(self, i: int) -> str:
        return self.deal_misc(i)["title"]

    def deal_base_counts(self, i: int) -> tuple[int, int, int]:
        """(products, participants, followers) of a base deal, consistent with children."""
        x = self.h_child(i)
        np_ = 0 if x % 20 < 13 else 1 + (x >> 5) % 3
        part = (1 if self.deal_person(i) else 0) + ((x >> 8) % 4 == 0)
        fol = 1 + ((x >> 10) % 3 == 0)
        return np_, part, fol

    def deal_activity_ids(self, i: int) -> list[int]:
        c = self.c
        out = []
        for a in (i, i + c.n_deals):
            if a <= c.n_activities and self.activity_deal(a) == i:
                out.append(a)
        return out

    # ------------------------------------------------------------------ persons
    def person_contact(self, p: int, h: int) -> tuple[str, str, str, list[dict], list[dict], int]:
        """(first, last, name, emails, phones, owner) of a base person: all a reference needs."""
        first = FIRST[h % len(FIRST)]
        last = LAST[(h >> 8) % len(LAST)]
        owner = self.owner_table[(h >> 16) & 255]
        slug = _FIRST_SLUG[first] + "." + _LAST_SLUG[last]
        ne = (h >> 34) & 3  # 0..3 emails
        if ne:
            dom = _CO_SLUG[(h >> 30) % len(CO_A)]
            emails = [{"label": "work", "value": f"{slug}@{dom}.example", "primary": True}]
            if ne > 1:
                emails.append({"label": "home", "value": f"{slug}1@mail.example", "primary": False})
            if ne > 2:
                emails.append({"label": "other", "value": f"{slug}2@{dom}.example", "primary": False})
        else:
            emails = [{"value": "", "primary": True}]
        nph = (h >> 36) & 3
        if nph:
            cc = (h >> 40) % 60 + 1
            phones = [{"label": PHONE_LABELS[k], "value": f"+{cc} {(h >> (k * 5)) % 900 + 100} {p % 10000:04d}{k}",
                       "primary": k == 0} for k in range(nph)]
        else:
            phones = [{"value": "", "primary": True}]
        name = f"{first} {last}" if (h >> 38) % 53 else f"  {first} {last} "
        return first, last, name, emails, phones, owner

    def _person_misc_pool(self) -> list[dict]:
        """1024 precomputed combinations of person fields that depend only on hash bits."""
        hm = Hasher(self.c.seed, "person-misc")
        jobs = ["CEO", "CTO", "Buyer", "Head of Sales", "", None, "Engineer"]
        pool = []
        for k in range(1024):
            h = hm(k)
            label = self.c.person_label_opts[h % 3] if (h >> 2) % 4 == 0 else None
            pool.append({"visible_to": "3" if (h >> 4) % 5 else "1", "label": label,
                         "label_ids": [label] if label else [], "job_title": jobs[(h >> 8) % 7],
                         "birthday": fmt_date(-((h >> 12) % 18000) * DAY - 20 * 365 * DAY) if (h >> 30) & 3 == 0
                         else None})
        return pool

    def person_flat(self, p: int) -> dict:
        h = (self.h_person.salt ^ (p * K1 & M64)) + K1 & M64
        h = ((h ^ (h >> 30)) * K2) & M64
        h = ((h ^ (h >> 27)) * K3) & M64
        h ^= h >> 31
        tm = self._tm_person
        x = ((p * K1 + tm.b) & M64) * tm.a & M64
        x ^= x >> 29
        add = T0 + ((p - 1) * self._sp_deal) // tm.n + ((x >> 40) % 7200)
        upd = add if (x >> 20) & 3 == 0 else add + (((x >> 24) & 0xFFFF) * (T_END - 1 - add) >> 16)
        days, hms = self._days, self._hms
        first, last, name, emails, phones, owner = self.person_contact(p, h)
        y = ((p * K1 + self._po_b) & M64) * self._po_a & M64
        base, cf12, cf3 = self._pools["persons"]
        d = base[(h >> 42) & 1023].copy()
        d.update(cf12[(h >> 6) & 4095])
        d.update(cf3[h >> 58])
        d["id"] = p
        d["owner_id"] = owner
        d["org_id"] = None if (y >> 40) % 6 == 0 else 1 + (y >> 20) % self._no
        d["name"] = name
        d["first_name"] = first
        d["last_name"] = last
        d["phone"] = phones
        d["email"] = emails
        d["primary_email"] = emails[0]["value"] or None
        d["first_char"] = first[0].lower()
        d["add_time"] = days[(add - T0) // 86400] + " " + hms[add % 86400]
        d["update_time"] = days[(upd - T0) // 86400] + " " + hms[upd % 86400]
        return d

    # ------------------------------------------------------------------ organizations
    def org_labels(self, h: int) -> list[int]:
        return [self.c.org_label_opts[(h >> 30) % 3]] if (h >> 32) % 3 == 0 else []

    def org_address(self, h: int) -> str | None:
        """The formatted address of a base organization (same value org_flat puts under "address")."""
        if not (h >> 34) % 7:
            return None
        return address_dict("address_", h >> 35, bare_key="address")["address"]

    def org_flat(self, o: int) -> dict:
        c = self.c
        h = self.h_org(o)
        tm = c.tm["organizations"]
        name = org_name_of(h)
        base, cf12, cf3 = self._pools["organizations"]
        d = base[h & 63].copy()
        d.update(cf12[(h >> 6) & 4095])
        d.update(cf3[h >> 58])
        d["id"] = o
        d["owner_id"] = self.owner_table[(h >> 20) & 255]
        d["name"] = name
        d["first_char"] = name[0].lower()
        d["add_time"] = fmt_ts(tm.add_time(o))
        d["update_time"] = fmt_ts(tm.update_time(o))
        d["visible_to"] = "3" if (h >> 28) % 5 else "1"
        labels = self.org_labels(h)
        d["label"] = labels[0] if labels else None
        d["label_ids"] = labels
        if (h >> 34) % 7:
            ad = address_dict("address_", h >> 35, bare_key="address")
            d.update(ad)
            d["country_code"] = CITIES[(h >> 35) % len(CITIES)][5]
        d["website"] = f"https://www.{_CO_SLUG[h % len(CO_A)]}.example" if (h >> 40) % 3 else None
        d["industry"] = INDUSTRIES[(h >> 42) % len(INDUSTRIES)]
        d["employee_count"] = (h >> 45) % 5000 if (h >> 44) & 1 else None
        d["annual_revenue"] = ((h >> 50) % 10000) * 1000 if (h >> 49) & 1 else None
        return d

    # ------------------------------------------------------------------ activities
    def _activity_misc_pool(self) -> list[dict]:
        """1024 precomputed combinations of activity fields that depend only on hash bits."""
        hm = Hasher(self.c.seed, "activity-misc")
        pool = []
        for k in range(1024):
            h = hm(k)
            t = ACTIVITY_TYPES[h % len(ACTIVITY_TYPES)]
            pool.append({"type": t[1], "subject": SUBJECTS[(h >> 8) % len(SUBJECTS)],
                         "due_time": "" if (h >> 12) % 4 == 0
                         else f"{(h >> 14) % 10 + 8:02d}:{15 * ((h >> 18) % 4):02d}",
                         "duration": "" if (h >> 20) % 3 == 0 else f"0{(h >> 22) % 3}:30",
                         "busy_flag": bool((h >> 24) & 1),
                         "note": NOTE_SNIPPETS[(h >> 26) % len(NOTE_SNIPPETS)] if (h >> 30) & 1 else None})
        return pool

    def activity_flat(self, a: int) -> dict:
        h = (self.h_act.salt ^ (a * K1 & M64)) + K1 & M64
        h = ((h ^ (h >> 30)) * K2) & M64
        h = ((h ^ (h >> 27)) * K3) & M64
        h ^= h >> 31
        tm = self._tm_act
        x = ((a * K1 + tm.b) & M64) * tm.a & M64
        x ^= x >> 29
        add = T0 + ((a - 1) * self._sp_deal) // tm.n + ((x >> 40) % 7200)
        upd = add if (x >> 20) & 3 == 0 else add + (((x >> 24) & 0xFFFF) * (T_END - 1 - add) >> 16)
        days, hms = self._days, self._hms
        if h & 7 >= 5:
            deal = None
            person = 1 + (h >> 40) % self._np if (h >> 5) & 1 else None
        else:
            deal = (a - 1) % self._nd + 1
            person = self.deal_person(deal)
        if person:
            y = ((person * K1 + self._po_b) & M64) * self._po_a & M64
            org = None if (y >> 40) % 6 == 0 else 1 + (y >> 20) % self._no
        else:
            org = None
        done = (h >> 3) & 3 != 0
        base, cf12, cf3 = self._pools["activities"]
        d = base[(h >> 8) & 1023].copy()
        d.update(cf12[(h >> 44) & 4095])
        d.update(cf3[h >> 58])
        uid = self.owner_table[(h >> 16) & 255]
        d["id"] = a
        d["user_id"] = uid
        d["done"] = done
        due = (add - T0) // 86400 + ((h >> 24) % 30)
        d["due_date"] = days[due]
        upd_s = days[(upd - T0) // 86400] + " " + hms[upd % 86400]
        d["add_time"] = days[(add - T0) // 86400] + " " + hms[add % 86400]
        d["update_time"] = upd_s
        d["marked_as_done_time"] = upd_s if done else ""
        d["deal_id"] = deal
        d["person_id"] = person
        d["org_id"] = org
        if person:
            d["participants"] = [{"person_id": person, "primary_flag": True}]
            if d["type"] == "meeting":
                d["attendees"] = [
                    {"email_address": f"guest{a % 997}@mail.example", "is_organizer": 0, "name": None,
                     "person_id": person, "status": "noreply", "user_id": None},
                    {"email_address": self._user_email[uid], "is_organizer": 1, "name": None, "person_id": None,
                     "status": "accepted", "user_id": uid}]
        d["update_user_id"] = uid if (h >> 42) & 1 else None
        d["created_by_user_id"] = uid
        d["assigned_to_user_id"] = uid
        return d

    # ------------------------------------------------------------------ products
    def product_flat(self, k: int) -> dict:
        c = self.c
        h = self.h_prod(k)
        tm = c.tm["products"]
        w1 = PRODUCT_WORDS[h % len(PRODUCT_WORDS)]
        w2 = PRODUCT_WORDS[(h >> 8) % len(PRODUCT_WORDS)]
        name = f"{w1} {w2} {k}"
        price = ((h >> 16) % 2000) * 5
        prices = [{"id": k * 3 + j, "product_id": k, "price": price * (1 + j), "currency": cur,
                   "cost": price // 2, "overhead_cost": None if j else 0}
                  for j, cur in enumerate(("EUR", "USD")[: 1 + (h >> 30) % 2])]
        d = c.product_template.copy()
        d["id"] = k
        d["name"] = name
        d["code"] = f"P-{k:05d}" if (h >> 32) % 5 else None
        d["description"] = None if (h >> 34) & 1 else f"{w1} for teams"
        d["unit"] = ["pcs", "licence", "hour", "", None][(h >> 36) % 5]
        d["tax"] = [0, 9, 20, 24][(h >> 40) % 4]
        cats = c.product_category_opts
        d["category"] = str(cats[(h >> 42) % len(cats)]) if (h >> 44) & 1 else None
        d["first_char"] = name[0].lower()
        d["owner_id"] = self.owner_table[(h >> 46) & 255]
        d["add_time"] = fmt_ts(tm.add_time(k))
        d["update_time"] = fmt_ts(tm.update_time(k))
        d["prices"] = prices
        cg = c.cf_groups["products"]
        d.update(cg[0][h & 63])
        d.update(cg[1][(h >> 10) & 63])
        d.update(cg[2][(h >> 20) & 63])
        d.update(cg[3][(h >> 50) & 63])
        if c.cf_null_tail["products"]:
            d.update(c.cf_null_tail["products"])
        return d

    # ------------------------------------------------------------------ notes
    def note_flat(self, k: int) -> dict:
        c = self.c
        h = self.h_note(k)
        tm = c.tm["notes"]
        deal = k if (k <= c.n_deals and not h & 1) else None
        if deal is not None:
            person = self.deal_person(deal)
        else:
            person = 1 + (h >> 8) % c.n_persons if (h >> 2) & 1 else None
        org = self.person_org(person) if person else (1 + (h >> 20) % c.n_orgs if (h >> 3) & 1 else None)
        lead = None
        if deal is None and person is None and org is None and c.n_leads:
            lead = c.lead_uuid(1 + (h >> 24) % c.n_leads)
        d = c.note_template.copy()
        d["id"] = k
        d["user_id"] = self.owner_table[(h >> 30) & 255]
        d["deal_id"] = deal
        d["person_id"] = person
        d["org_id"] = org
        d["lead_id"] = lead
        d["content"] = NOTE_SNIPPETS[(h >> 40) % len(NOTE_SNIPPETS)]
        d["add_time"] = fmt_ts(tm.add_time(k))
        d["update_time"] = fmt_ts(tm.update_time(k))
        d["pinned_to_deal_flag"] = bool(deal and (h >> 44) % 7 == 0)
        d["pinned_to_person_flag"] = False
        d["pinned_to_organization_flag"] = False
        d["pinned_to_lead_flag"] = False
        d["last_update_user_id"] = d["user_id"] if (h >> 46) & 1 else None
        return d

    # ------------------------------------------------------------------ leads
    def lead_flat(self, k: int) -> dict:
        c = self.c
        h = self.h_lead(k)
        tm = c.tm["leads"]
        person = 1 + (h >> 8) % c.n_persons if h & 3 else None
        org = self.person_org(person) if person else 1 + (h >> 28) % c.n_orgs
        upd = tm.update_time(k)
        d = {
            "id": c.lead_uuid(k), "title": f"{self.org_name(org) if org else self.person_name(person)} lead",
            "owner_id": self.owner_table[(h >> 16) & 255], "creator_id": ADMIN if (h >> 24) & 1 else 2,
            "label_ids": [c.lead_label_ids[j] for j in range((h >> 26) % 3)],
            "person_id": person, "organization_id": org,
            "source_name": ["Manually created", "Web forms", "Prospector", "Import"][(h >> 30) % 4],
            "origin": ORIGINS[(h >> 32) % len(ORIGINS)], "origin_id": None, "channel": None, "channel_id": None,
            "is_archived": (h >> 34) % 9 == 0, "was_seen": bool((h >> 36) & 1),
            "value": ({"amount": ((h >> 40) % 500) * 100, "currency": DEAL_CURRENCIES[(h >> 50) % 8]}
                      if (h >> 38) % 3 else None),
            "expected_close_date": fmt_date(upd + ((h >> 44) % 90) * DAY) if (h >> 39) & 1 else None,
            "next_activity_id": None, "add_time": fmt_iso_ms(tm.add_time(k)), "update_time": fmt_iso_ms(upd),
            "visible_to": "3", "cc_email": CC_EMAIL,
        }
        # leads only show custom fields that are set
        cg = c.cf_groups["deals"]
        for part in (cg[0][h & 63], cg[1][(h >> 6) & 63], cg[2][(h >> 12) & 63], cg[3][(h >> 56) & 63]):
            for kk, vv in part.items():
                if vv is not None:
                    d[kk] = vv
        return d


ADMIN = 1


def deal_template() -> dict:
    keys = ["id", "creator_user_id", "user_id", "person_id", "org_id", "stage_id", "title", "value", "acv", "arr",
            "mrr",
            "currency", "add_time", "update_time", "stage_change_time", "active", "deleted", "status", "probability",
            "next_activity_date", "next_activity_time", "next_activity_id", "last_activity_id", "last_activity_date",
            "lost_reason", "visible_to", "close_time", "pipeline_id", "won_time", "first_won_time", "lost_time",
            "expected_close_date", "label", "local_won_date", "local_lost_date", "local_close_date", "origin",
            "origin_id", "channel", "channel_id", "is_archived", "archive_time"]
    d = dict.fromkeys(keys)
    d["deleted"] = False
    d["is_archived"] = False
    return d


def person_template() -> dict:
    keys = ["id", "company_id", "owner_id", "org_id", "name", "first_name", "last_name", "phone", "email",
            "primary_email", "first_char", "add_time", "update_time", "delete_time", "visible_to", "picture_id",
            "label", "label_ids", "active_flag", "job_title", "birthday", "im", "notes", "postal_address"]
    d = dict.fromkeys(keys)
    d["company_id"] = COMPANY_ID
    d["active_flag"] = True
    d["im"] = [{"value": "", "primary": True}]
    return d


def org_template() -> dict:
    keys = ["id", "company_id", "owner_id", "name", "active_flag", "picture_id", "country_code", "first_char",
            "add_time", "update_time", "delete_time", "visible_to", "label", "label_ids", "address",
            "address_subpremise", "address_street_number", "address_route", "address_sublocality", "address_locality",
            "address_admin_area_level_1", "address_admin_area_level_2", "address_country", "address_postal_code",
            "address_formatted_address", "website", "linkedin", "industry", "annual_revenue", "employee_count"]
    d = dict.fromkeys(keys)
    d["company_id"] = COMPANY_ID
    d["active_flag"] = True
    return d


def activity_template() -> dict:
    keys = ["id", "company_id", "user_id", "done", "type", "reference_type", "reference_id",
            "conference_meeting_client",
            "conference_meeting_url", "conference_meeting_id", "due_date", "due_time", "duration", "busy_flag",
            "add_time", "marked_as_done_time", "last_notification_time", "last_notification_user_id",
            "notification_language_id", "subject", "public_description", "calendar_sync_include_context", "location",
            "org_id", "person_id", "deal_id", "lead_id", "project_id", "active_flag", "update_time", "update_user_id",
            "source_timezone", "rec_rule", "rec_rule_extension", "rec_master_activity_id", "series", "note",
            "created_by_user_id", "location_subpremise", "location_street_number", "location_route",
            "location_sublocality", "location_locality", "location_admin_area_level_1", "location_admin_area_level_2",
            "location_country", "location_postal_code", "location_formatted_address", "attendees", "participants",
            "assigned_to_user_id"]
    d = dict.fromkeys(keys)
    d["company_id"] = COMPANY_ID
    d["active_flag"] = True
    d["series"] = []
    return d


def product_template() -> dict:
    keys = ["id", "name", "code", "description", "unit", "tax", "category", "active_flag", "selectable",
            "first_char", "visible_to", "owner_id", "files_count", "add_time", "update_time", "billing_frequency",
            "billing_frequency_cycles", "prices"]
    d = dict.fromkeys(keys)
    d["active_flag"] = True
    d["selectable"] = True
    d["visible_to"] = "3"
    d["files_count"] = None
    d["billing_frequency"] = "one-time"
    return d


def note_template() -> dict:
    keys = ["id", "user_id", "deal_id", "person_id", "org_id", "lead_id", "project_id", "content", "add_time",
            "update_time", "active_flag", "pinned_to_deal_flag", "pinned_to_person_flag",
            "pinned_to_organization_flag", "pinned_to_lead_flag", "pinned_to_project_flag", "last_update_user_id"]
    d = dict.fromkeys(keys)
    d["active_flag"] = True
    d["pinned_to_project_flag"] = False
    return d


TEMPLATES: dict[str, Callable[[], dict]] = {
    "deals": deal_template, "persons": person_template, "organizations": org_template,
    "activities": activity_template, "products": product_template, "notes": note_template,
}

