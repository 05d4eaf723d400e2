"""A synthetic clinical corpus with labelled identifiers, for measuring de-identification honestly.

Each note is a real MTSamples note's body (public, already de-identified sample transcriptions) with a
header, sentences carrying identifiers and a signature put around and into it; the identifiers are
Faker's fakes in many formats, and their character spans are the labels. Sentences that look like
identifiers but are not (eponyms such as Parkinson, Foley or Apgar, drug names, "Mr. Rogers'
Neighborhood", ages under 90, bare years, fractions and blood pressures) are mixed in unlabelled: keeping
them is part of the score. Identifier-free texts (tricky sentences and MTSamples sentences) measure
over-redaction: the share of texts without identifiers in which anything is removed.

The two splits share nothing but the formats: ``dev`` (for tuning) and ``eval`` (for reporting) use
different seeds, different sentence, header and signature templates, different MTSamples notes (by
``sample_id``), and names from different Faker locales besides ``en_US``.

MTSamples paragraphs are used only when they show no identifier-like material of their own (dates with
digits or month names, titles before names, the corpus's own "XYZ"/"ABC" masks), so unlabelled
identifiers in the surroundings do not count against the de-identifier.

Run ``python -m corpora.synthetic_phi --split eval --out FILE.jsonl`` to write a split as JSONL
(``{"id", "text", "spans": [{"type", "start", "end"}]}``); nothing it writes belongs in the repository.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from faker import Faker

SPLITS = {"dev": {"seed": 1013, "parity": 0, "locales": ["en_US", "en_US", "en_US", "en_GB", "es_ES", "de_DE"]},
          "eval": {"seed": 2029, "parity": 1,
                   "locales": ["en_US", "en_US", "en_US", "en_IE", "it_IT", "fr_FR", "pl_PL", "pt_BR", "sv_SE",
                               "tr_TR", "nl_NL"]}}

# Sentence templates; {TYPE:variant} is an identifier, written by Value.make. Even-numbered templates are dev's,
# odd-numbered eval's.
SENTENCES = [
    "{NAME:title_last} is a {AGE:old} {sex} who presents for follow-up.",
    "The patient, {NAME:full}, was admitted on {DATE:any} and discharged on {DATE:any}.",
    "{NAME:first} was seen in clinic on {DATE:any} by Dr. {NAME:last}.",
    "Her husband {NAME:full} can be reached at {PHONE:any}.",
    "His daughter, {NAME:full}, is the health care proxy; her number is {PHONE:any}.",
    "Patient lives at {ADDRESS:street}, {CITY:city}, {STATE} {ZIP:zip}.",
    "She was transferred from {HOSPITAL:any} on {DATE:any}.",
    "Last colonoscopy was on {DATE:any} at {HOSPITAL:any}.",
    "Discussed with Dr. {NAME:full} of cardiology, who agrees with the plan.",
    "Please fax records to {PHONE:any}, attention {NAME:full}.",
    "He was admitted to {WARD:any} on {DATE:any}.",
    "Son {NAME:first} visited on the {DATE:day} and brought his medications.",
    "The patient is a {AGE:old} woman who lives alone in {CITY:city}.",
    "Results were sent to {EMAIL:any} as requested by the patient.",
    "Her insurance Member ID is {HEALTH_PLAN:any}.",
    "Pacemaker serial number {DEVICE:serial} was interrogated without issue.",
    "He was the driver of a vehicle with VIN {VEHICLE:vin} involved in the collision.",
    "The patient's portal account is at {URL:any}; her login came from {IP:any}.",
    "SSN {SSN:any} was verified at registration.",
    "Mrs. {NAME:last} reports that her neighbor, {NAME:full}, checks on her daily.",
    "Dr. {NAME:last} performed the procedure on {DATE:any} without complication.",
    "We will see {NAME:first} {NAME:last} back on {DATE:any} at {HOSPITAL:any}.",
    "Account number {ACCOUNT:any} was updated for billing.",
    "Spoke with her sister {NAME:full} by phone at {PHONE:any} on {DATE:any}.",
    "MRN {MRN:any} was confirmed with two identifiers.",
    "The {AGE:old} patient was previously followed by Dr. {NAME:full} at {HOSPITAL:any}.",
    "Prescriber DEA number {LICENSE:dea} is on file.",
    "Her mother, {NAME:full}, brought her to the emergency department on {DATE:any}.",
    "The patient moved to {CITY:city} in {DATE:month} and transferred her care.",
    "Plan discussed with {NAME:full}, RN, and the family.",
    "Mr. {NAME:last} was last seen {DATE:any}; he is now {AGE:old}.",
    "Contact {NAME:full} at {EMAIL:any} or {PHONE:any} with questions.",
    "He was driving a car with plate {VEHICLE:plate} when the accident happened on {DATE:any}.",
    "Insulin pump serial {DEVICE:serial} was replaced.",
    "Medicare number {HEALTH_PLAN:any} was provided by his wife, {NAME:first}.",
    "Images were uploaded from workstation {IP:any} to {URL:any}.",
    "Her driver's license {LICENSE:dl} was photocopied for the chart.",
    "Her visit number is {ACCOUNT:any} and the MRN is {MRN:any}.",
    "{NAME:full} is a {AGE:old} man with a history of falls.",
    "On {DATE:any}, the patient returned to {WARD:any} from radiology.",
    # Pairs added so that both splits hold every type (dev lacked e-mail, URL, IP and device numbers; eval lacked
    # SSN, licence and vehicle numbers).
    "Her e-mail is {EMAIL:any} and she uses the portal at {URL:any}.",
    "Social Security number: {SSN:any}.",
    "Remote monitoring from {IP:any} reported on device {DEVICE:serial}.",
    "Driver's license number {LICENSE:dl}; the ordering provider's NPI is {LICENSE:npi}.",
    "Serial number {DEVICE:serial} of the infusion pump was recorded.",
    "The car (VIN {VEHICLE:vin}, plate {VEHICLE:plate}) was towed from the scene.",
]
HEADERS = [
    "PATIENT NAME: {NAME:caps_inverted}\nMRN: {MRN:any}\nDOB: {DATE:dob}\nDATE OF SERVICE: {DATE:any}\n"
    "ATTENDING: {NAME:caps_full}, MD\n",
    "Patient: {NAME:full}    Medical Record #: {MRN:any}    Date of Birth: {DATE:dob}\n"
    "Admission Date: {DATE:any}    Discharge Date: {DATE:any}\nFacility: {HOSPITAL:any}\n",
    "NAME: {NAME:caps_full}\nACCOUNT #: {ACCOUNT:any}\nDOB: {DATE:dob}  AGE: {AGE:bare}\nREFERRING PHYSICIAN: "
    "{NAME:full}, MD\nPCP: Dr. {NAME:last}\n",
    "Pt Name: {NAME:inverted}   MR#: {MRN:any}\nVisit Date: {DATE:any}   Location: {WARD:any}\n"
    "Insurance: {HEALTH_PLAN:labelled}\n",
    "{HOSPITAL:any}\n{ADDRESS:street}\n{CITY:city}, {STATE} {ZIP:zip}\nPhone {PHONE:any}  Fax {PHONE:any}\n\n"
    "RE: {NAME:full}\nDOB: {DATE:dob}\n",
    "EXAMINEE: {NAME:caps_full}\nCLAIM NUMBER: {ACCOUNT:any}\nDATE OF INJURY: {DATE:any}\n"
    "DATE OF EXAMINATION: {DATE:any}\nEXAMINING PHYSICIAN: {NAME:full}, DO\n",
    "Patient ID: {MRN:any}\nEncounter: {ACCOUNT:any}\nName: {NAME:full}\nSex: {SEX}\nDOB: {DATE:dob}\n"
    "Address: {ADDRESS:street}, {CITY:city}, {STATE} {ZIP:zip}\nHome phone: {PHONE:any}\n",
    "DATE: {DATE:any}\nTO: Dr. {NAME:full}\nFROM: {NAME:full}, NP\nRE: {NAME:full} (MRN {MRN:any})\n",
]
SIGNATURES = [
    "\nElectronically signed by: {NAME:caps_full}, MD {DATE:numeric} 14:22\n",
    "\nDictated by: {NAME:full}, M.D.\nTranscribed by: {NAME:initials}\nD: {DATE:numeric}  T: {DATE:numeric}\n",
    "\n{NAME:full}, MD\nNPI: {LICENSE:npi}\ncc: Dr. {NAME:last}\n",
    "\nSincerely,\n{NAME:full}, PA-C\n{HOSPITAL:any}\n",
    "\nSigned: {NAME:full}, RN  {DATE:any}\n",
    "\nAttending physician: {NAME:full}\nReviewed and signed {DATE:any}\nPager {PHONE:pager}\n",
]
# Unlabelled look-alikes: none of these is an identifier under Safe Harbor.
NEGATIVES = [
    "History of Parkinson disease, on carbidopa-levodopa.", "Known Crohn's disease, quiescent on Humira.",
    "Hodgkin lymphoma in 2009, in remission.", "A Foley catheter was placed without difficulty.",
    "Down syndrome with mild intellectual disability.", "Apgar scores were 8 and 9.",
    "Glasgow Coma Scale 15 on arrival.", "Babinski sign is absent bilaterally; Romberg is negative.",
    "Murphy sign is negative.", "She has Hashimoto thyroiditis and takes Synthroid.", "Graves disease treated in 2001.",
    "Bell's palsy on the left in 2017, resolved.", "Cushing syndrome was ruled out.", "Barrett esophagus on biopsy.",
    "He underwent a Whipple procedure in 2012.", "Takes Coumadin 5 mg daily and Lasix 40 mg twice a day.",
    "Started on Zoloft 50 mg and Ambien as needed.", "Tylenol #3 as needed for pain.",
    "She enjoys watching Mr. Rogers' Neighborhood with her grandson.", "He drinks two cans of Dr Pepper a day.",
    "Uses Mrs. Dash instead of salt.", "She reads Dr. Seuss to her grandchildren.",
    "A 45-year-old man with chest pain.", "She is a 72 yo woman with COPD.", "The 8-year-old was seen with otitis.",
    "He quit smoking in 1998.", "Diagnosed with diabetes in 2015.", "Blood pressure 120/80, pulse 72.",
    "Take 1/2 tablet at bedtime.", "Strength is 5/5 in all extremities.", "Grade 2/6 systolic murmur at the apex.",
    "Gleason 3+4=7 adenocarcinoma.", "WBC 12.5, hemoglobin 10.2, platelets 250,000.", "Seen on Monday at 14:30.",
    "Lachman and McMurray tests are negative.", "Kernig and Brudzinski signs are absent.",
    "Wells score is low; D-dimer negative.", "Tinel sign positive at the wrist.", "Allen test normal.",
    "Placed in Trendelenburg position.", "Valsalva maneuver did not reproduce the murmur.",
    "Mallampati class II airway.", "Jackson-Pratt drain removed.", "Steri-Strips were applied.",
    "Alzheimer dementia, moderate.", "Raynaud phenomenon in cold weather.", "Addison disease on hydrocortisone.",
    "Epstein-Barr virus serology negative.", "Kaposi sarcoma was excluded.", "Wilson disease workup negative.",
    "He is 89 years old and lives with his son.", "In 2019 she had a hip replacement.",
    "Follow up in 2 weeks.", "Return in 3 to 4 months.", "The 3rd and 4th toes are swollen.",
    "Fourth ventricle is normal in size.", "Take Norco 5/325 one tablet every 6 hours.",
    "He works as a teacher and has two children.", "Her sister has breast cancer.",
    "The patient prefers Spanish; an interpreter was used.", "Lives with her husband and dog.",
]
ID_LABELS = {
    "MRN": ["MRN", "MRN:", "MR#", "Medical Record Number:", "Med Rec #", "Unit No.", "Hospital #"],
    "ACCOUNT": ["Account #", "Acct:", "FIN", "Encounter #", "Visit #", "Billing number"],
    "HEALTH_PLAN": ["Member ID", "Policy #", "Subscriber ID:", "Medicaid ID", "Group number", "Insurance ID:"],
}
STREET_SUFFIX = ["Street", "St.", "Avenue", "Ave", "Road", "Rd.", "Lane", "Drive", "Court", "Boulevard", "Way",
                 "Place", "Terrace", "Circle", "Parkway"]
HOSPITAL_FORMS = ["{last} Memorial Hospital", "{last} Medical Center", "St. {first}'s Hospital", "{city} General Hospital",
                  "{city} Regional Medical Center", "{last} Clinic", "{last} Children's Hospital",
                  "University of {city} Medical Center", "{last} Community Hospital", "Saint {first} Health Center"]
DATE_FORMATS = ["%m/%d/%Y", "{m}/{d}/{yy}", "{m}-{d}-{yy}", "%m-%d-%Y", "%Y-%m-%d", "%B {d}, %Y", "%B {d}{ord}",
                "{d} %b %Y", "%d-%b-%Y|upper", "%b {d}", "%B %Y", "{d}{ord} of %B", "%b. {d}, %Y", "{m}/{d}",
                "%B {d}{ord}, %Y", "%d %B %Y", "%m.%d.%Y", "%d%b%Y|upper"]


def _ordinal(day: int) -> str:
    return "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


@dataclass
class Note:
    """A text being assembled, with the spans of the identifiers put into it."""

    id: str
    parts: list[str] = field(default_factory=list)
    spans: list[dict] = field(default_factory=list)
    length: int = 0

    def add(self, text: str, kind: str | None = None) -> None:
        if kind:
            self.spans.append({"type": kind, "start": self.length, "end": self.length + len(text)})
        self.parts.append(text)
        self.length += len(text)

    def record(self) -> dict:
        return {"id": self.id, "text": "".join(self.parts), "spans": self.spans}


class Generator:
    """Writes one split's notes and identifier-free texts."""

    def __init__(self, split: str, mtsamples: list[dict] | None = None):
        config = SPLITS[split]
        self.split = split
        self.random = random.Random(config["seed"])
        self.fakers = {loc: Faker(loc) for loc in sorted(set(config["locales"]))}
        for i, faker in enumerate(self.fakers.values()):
            faker.seed_instance(config["seed"] + i)
        self.us = self.fakers["en_US"]
        self.locales = config["locales"]
        parity = config["parity"]
        self.sentences = SENTENCES[parity::2]
        self.headers = HEADERS[parity::2]
        self.signatures = SIGNATURES[parity::2]
        notes = [n for n in (mtsamples or []) if _parity(n["sample_id"]) == parity]
        self.paragraphs = [[p for p in _paragraphs(n["transcription"]) if is_clean(p)] for n in notes]
        self.paragraphs = [p for p in self.paragraphs if p]

    # --- values ----------------------------------------------------------------------------------------------

    def _person(self) -> tuple[str, str]:
        faker = self.fakers[self.random.choice(self.locales)]
        return faker.first_name(), faker.last_name()

    def value(self, kind: str, variant: str) -> tuple[str, str | None] | list[tuple[str, str | None]]:
        rnd, us = self.random, self.us
        if kind == "NAME":
            first, last = self._person()
            middle = rnd.choice("ABCDEFGHJKLMNPRSTW")
            return {"full": rnd.choice([f"{first} {last}", f"{first} {middle}. {last}", f"{first} {last}"]),
                    "first": first, "last": last, "title_last": None, "caps_full": f"{first} {middle} {last}".upper(),
                    "caps_inverted": f"{last}, {first}".upper(), "inverted": f"{last}, {first} {middle}.",
                    "initials": f"{first} {last}"}[variant] \
                or [("Mr. " if rnd.random() < 0.5 else "Mrs. ", None), (last, "NAME")]
        if kind == "DATE":
            day = us.date_between(dt.date(1995, 1, 1), dt.date(2025, 12, 31))
            if variant == "dob":
                day = us.date_between(dt.date(1925, 1, 1), dt.date(2005, 12, 31))
            if variant == "day":
                return f"{day.day}{_ordinal(day.day)}"
            if variant == "month":
                return day.strftime("%B") if rnd.random() < 0.5 else day.strftime("%B %Y")
            formats = DATE_FORMATS[:5] if variant == "numeric" else DATE_FORMATS
            return _format_date(day, rnd.choice(formats))
        if kind == "AGE":
            age = rnd.randint(90, 104)
            if variant == "bare":
                return str(age)
            form = rnd.choice(["{n}-year-old", "{n} year old", "{n} yo", "{n} y/o", "{n}-yr-old"])
            return _split_age(form, age)
        if kind == "PHONE":
            digits = [str(rnd.randint(2, 9))] + [str(rnd.randint(0, 9)) for _ in range(9)]
            a, b, c = "".join(digits[:3]), "".join(digits[3:6]), "".join(digits[6:])
            if variant == "pager":
                return f"{b}-{c}"
            return rnd.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"{a} {b} {c}", f"+1 {a}-{b}-{c}",
                               f"{a}-{b}-{c} ext. {rnd.randint(10, 9999)}", f"1-{a}-{b}-{c}"])
        if kind == "EMAIL":
            first, last = self._person()
            return rnd.choice([us.email(), f"{_ascii(first)}.{_ascii(last)}@{us.free_email_domain()}".lower()])
        if kind == "URL":
            return rnd.choice([us.url(), us.url() + us.uri_path(), f"https://{us.domain_name()}/patients/{rnd.randint(1000, 99999)}"])
        if kind == "IP":
            return us.ipv4() if rnd.random() < 0.8 else us.ipv6()
        if kind == "ADDRESS":
            street = f"{us.building_number()} {rnd.choice([us.last_name(), us.first_name(), us.street_name().split()[0]])} {rnd.choice(STREET_SUFFIX)}"
            return street + rnd.choice(["", "", f" Apt. {rnd.randint(1, 999)}", f", Suite {rnd.randint(100, 999)}", f" #{rnd.randint(1, 99)}"])
        if kind == "CITY":
            return us.city()
        if kind == "ZIP":
            return us.zipcode() if rnd.random() < 0.8 else us.zipcode_plus4()
        if kind == "HOSPITAL":
            first, last = self._person()
            return rnd.choice(HOSPITAL_FORMS).format(first=first, last=last, city=us.city())
        if kind == "WARD":
            return rnd.choice([f"Ward {rnd.randint(1, 12)}{rnd.choice('ABCD')}", f"{rnd.randint(2, 12)} {rnd.choice(['West', 'East', 'North', 'South'])}",
                               f"Room {rnd.randint(100, 999)}", f"Bed {rnd.randint(1, 40)}", f"Unit {rnd.randint(2, 9)}{rnd.choice('NSEW')}"])
        if kind in ("MRN", "ACCOUNT", "HEALTH_PLAN"):
            number = rnd.choice(["#######", "########", "##-##-##", "00######", "MR######", "A#########", "###-###-###",
                                 "XJK#########", "1EG4-TE5-MK73"] if kind != "MRN" else
                                ["#######", "########", "##-##-##", "00######", "MR######", "####-####"])
            number = "".join(str(rnd.randint(0, 9)) if c == "#" else c for c in number)
            if variant == "labelled":
                return [(rnd.choice(ID_LABELS[kind]) + " ", None), (number, kind)]
            return number
        if kind == "SSN":
            return f"{rnd.randint(100, 665)}-{rnd.randint(10, 99)}-{rnd.randint(1000, 9999)}"
        if kind == "LICENSE":
            if variant == "dea":
                return f"{rnd.choice('ABFM')}{rnd.choice('ABCDEFGHJKLM')}{rnd.randint(1000000, 9999999)}"
            if variant == "npi":
                return str(rnd.randint(1000000000, 1999999999))
            return f"{rnd.choice('ABCDS')}{rnd.randint(100, 999)}-{rnd.randint(1000, 9999)}-{rnd.randint(1000, 9999)}"
        if kind == "VEHICLE":
            if variant == "plate":
                return us.license_plate()
            chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
            return "".join(rnd.choice("123456789")) + "".join(rnd.choice(chars) for _ in range(16))
        if kind == "DEVICE":
            return rnd.choice([f"SN-{rnd.randint(10000000, 99999999)}", f"PJN{rnd.randint(100000, 999999)}",
                               f"{rnd.choice('ABCDEFGH')}{rnd.choice('KLMNPRST')}{rnd.randint(100000, 9999999)}"])
        raise ValueError(kind)

    # --- assembly --------------------------------------------------------------------------------------------

    def fill(self, note: Note, template: str) -> None:
        """Append ``template`` to ``note``, drawing each identifier and recording its span."""
        position = 0
        for match in re.finditer(r"\{(\w+)(?::(\w+))?\}", template):
            note.add(template[position:match.start()])
            kind, variant = match.group(1), match.group(2)
            position = match.end()
            if kind == "STATE":
                note.add(self.us.state_abbr() if self.random.random() < 0.7 else self.us.state())
            elif kind == "SEX":
                note.add(self.random.choice(["F", "M", "Female", "Male"]))
            elif kind == "sex":
                note.add(self.random.choice(["man", "woman", "gentleman", "female", "male"]))
            else:
                made = self.value(kind, variant)
                for text, label in ([(made, kind)] if isinstance(made, str) else made):
                    note.add(text, label)
        note.add(template[position:])

    def note(self, index: int) -> dict:
        """One note: a header, MTSamples paragraphs with identifier and look-alike sentences, a signature."""
        rnd = self.random
        note = Note(f"{self.split}-note-{index:04d}")
        self.fill(note, rnd.choice(self.headers))
        note.add("\n")
        body = list(rnd.choice(self.paragraphs)[:6]) if self.paragraphs else []
        inserts = [("phi", t) for t in rnd.sample(self.sentences, rnd.randint(3, 6))] + \
                  [("negative", t) for t in rnd.sample(NEGATIVES, rnd.randint(2, 4))]
        rnd.shuffle(inserts)
        slots = max(1, len(body))
        for i in range(slots):
            if i < len(body):
                note.add(body[i] + "\n\n")
            for kind, template in inserts[i::slots]:
                self.fill(note, template) if kind == "phi" else note.add(template)
                note.add("\n\n" if rnd.random() < 0.5 else " ")
        self.fill(note, rnd.choice(self.signatures))
        return note.record()

    def negative(self, index: int) -> dict:
        """A text without identifiers: look-alike sentences and MTSamples sentences."""
        rnd = self.random
        pieces = rnd.sample(NEGATIVES, rnd.randint(1, 3))
        if self.paragraphs:
            sentences = [s for s in re.split(r"(?<=[.!?])\s+", rnd.choice(rnd.choice(self.paragraphs))) if s.strip()]
            start = rnd.randrange(len(sentences))
            pieces += sentences[start:start + rnd.randint(1, 3)]
        rnd.shuffle(pieces)
        return {"id": f"{self.split}-clean-{index:04d}", "text": " ".join(pieces), "spans": []}


def _split_age(form: str, age: int) -> list[tuple[str, str | None]]:
    before, after = form.split("{n}")
    return [(before, None), (str(age), "AGE"), (after, None)]


def _ascii(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower()) or "user"


def _format_date(day: dt.date, form: str) -> str:
    upper = form.endswith("|upper")
    form = form.removesuffix("|upper")
    text = day.strftime(form.replace("{m}", str(day.month)).replace("{d}", str(day.day))
                        .replace("{yy}", f"{day.year % 100:02d}").replace("{ord}", _ordinal(day.day)))
    return text.upper() if upper else text


def _parity(sample_id: str) -> int:
    return hashlib.sha256(sample_id.encode()).digest()[0] % 2


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n|(?<=\.)\s*,\s*(?=[A-Z]{3,}[A-Z ]*:)", text) if 40 < len(p.strip()) < 1200]


# Material an MTSamples paragraph must not have to be used as identifier-free surroundings.
_DIRTY = re.compile(r"\d{1,4}[/-]\d{1,2}[/-]\d{2,4}|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+\d"
                    r"|\b(?:January|February|March|April|June|July|August|September|October|November|December)\b"
                    r"|\b(?:Dr|Mr|Mrs|Ms|Miss|Doctor)\b\.?\s*[A-Z]|\b(?:XYZ|ABC|ABCD|Xyz|Abc|Abcd|XXX|YYY|Sample|SAMPLE)\b"
                    r"|@|https?:|www\.|\b\d{3}[-.]\d{3,4}\b|\b\d{5,}\b|\b(?:Hospital|Medical Center|Clinic)\b"
                    r"|\b(?:9\d|1[0-4]\d)[- ]year|\b(?:Street|Avenue|Road|Blvd)\b|\bsigned\b|\bdictated\b|[A-Z][a-z]+, [A-Z]{2}\b")


def is_clean(paragraph: str) -> bool:
    """True when an MTSamples paragraph has nothing that could be an unlabelled identifier."""
    return not _DIRTY.search(paragraph)


def read_mtsamples(data_dir: str | Path | None = None) -> list[dict]:
    """Distinct MTSamples notes (``sample_id``, ``transcription``); empty when the corpus is absent."""
    import csv

    from corpora.registry import CorpusError, resolve_data_dir

    try:
        path = resolve_data_dir(data_dir) / "mtsamples" / "mtsamples.csv"
    except CorpusError:
        return []
    if not path.exists():
        return []
    seen, notes = set(), []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["sample_id"] not in seen and row["transcription"].strip():
                seen.add(row["sample_id"])
                notes.append({"sample_id": row["sample_id"], "transcription": row["transcription"]})
    return notes


def generate(split: str, notes: int = 250, clean: int = 250, mtsamples: list[dict] | None = None) -> list[dict]:
    """``notes`` labelled notes and ``clean`` identifier-free texts of one split (``dev`` or ``eval``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    generator = Generator(split, mtsamples)
    return [generator.note(i) for i in range(notes)] + [generator.negative(i) for i in range(clean)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=sorted(SPLITS), required=True)
    parser.add_argument("--notes", type=int, default=250)
    parser.add_argument("--clean", type=int, default=250)
    parser.add_argument("--data-dir", help="corpora folder with mtsamples/ (default: ../shared/corpora)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    records = generate(args.split, args.notes, args.clean, read_mtsamples(args.data_dir))
    with args.out.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
