"""Presidio recognizers for the Safe Harbor identifiers of clinical notes that Presidio lacks.

Presidio's own recognizers cover e-mail, URLs, IP addresses and US SSNs; spaCy's NER (through
Presidio's ``SpacyRecognizer``) proposes person names and cities. What notes add is here: record,
account, health-plan, licence, device and vehicle numbers behind their labels; clinical date formats
("03/04/2021", "3-4-21", "March 4th", "4 Mar 2021", "on the 4th"); ages over 89; phone and fax numbers;
street addresses, "City, ST 12345" lines and ZIP codes; hospital and ward names; and names found by
their clinical context ("Dr. X", "Patient: DOE, JOHN", "Electronically signed by ...", "JOHN SMITH, MD",
"his wife Mary"). Each recognizer is a regular expression whose group ``phi`` is the identifier, so the
context that finds it (a label, a title) is not itself removed.

Word lists (titles, labels, credentials, eponyms, facility words, states) are data in
``nlp/privacy/data/lexicon.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources

import regex
import tldextract
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import EmailRecognizer

# The types this package reports (the placeholder of each is "[TYPE]").
NAME, DATE, AGE, PHONE, EMAIL, ADDRESS, CITY, ZIP = "NAME", "DATE", "AGE", "PHONE", "EMAIL", "ADDRESS", "CITY", "ZIP"
HOSPITAL, WARD, MRN, ACCOUNT, HEALTH_PLAN, LICENSE = "HOSPITAL", "WARD", "MRN", "ACCOUNT", "HEALTH_PLAN", "LICENSE"
SSN, VEHICLE, DEVICE, URL, IP, ID = "SSN", "VEHICLE", "DEVICE", "URL", "IP", "ID"
PHI_TYPES = (NAME, DATE, AGE, PHONE, EMAIL, ADDRESS, CITY, ZIP, HOSPITAL, WARD, MRN, ACCOUNT, HEALTH_PLAN, LICENSE,
             SSN, VEHICLE, DEVICE, URL, IP, ID)


@cache
def lexicon() -> dict[str, list[str]]:
    """The word lists in ``nlp/privacy/data/lexicon.json``."""
    text = resources.files("nlp.privacy").joinpath("data", "lexicon.json").read_text(encoding="utf-8")
    return {key: value for key, value in json.loads(text).items() if not key.startswith("_")}


def _alternatives(words: Iterable[str]) -> str:
    """A regex alternation of ``words``, longest first, spaces matching any run of blanks."""
    escaped = (regex.escape(w).replace(r"\ ", r"[ \t]+") for w in sorted(set(words), key=len, reverse=True))
    return "|".join(escaped)


class GroupRecognizer(EntityRecognizer):
    """Finds one entity type with regular expressions whose named group ``phi`` is the identifier.

    Args:
        entity: The entity type reported.
        patterns: Regular expressions (strings, compiled with ``flags``), each with a group ``phi``.
        score: The score given to every match.
        validate: Optional test of the matched identifier text; a match it rejects is dropped.
        flags: ``regex`` flags (default: case-sensitive, multi-line; use ``(?i:...)`` for parts
            that ignore case).
    """

    def __init__(self, entity: str, patterns: list[str], score: float = 0.85,
                 validate: Callable[[str], bool] | None = None, flags: int = regex.MULTILINE, name: str | None = None):
        self.patterns = [regex.compile(p, flags) for p in patterns]
        self.score = score
        self.validate = validate
        super().__init__(supported_entities=[entity], name=name or f"Clinical{entity.title().replace('_', '')}")

    def load(self) -> None:  # compiled in __init__
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list[RecognizerResult]:
        entity = self.supported_entities[0]
        if entities and entity not in entities:
            return []
        found = {}
        for pattern in self.patterns:
            for match in pattern.finditer(text):
                start, end = match.span("phi")
                if start < end and (self.validate is None or self.validate(text[start:end])):
                    found[(start, end)] = RecognizerResult(entity, start, end, self.score)
        return list(found.values())


# --- building blocks -------------------------------------------------------------------------------------------

_UPPER, _LOWER = r"\p{Lu}", r"\p{Ll}"
# A capitalized name word: "Smith", "McDonald", "O'Brien", "D'Angelo", "Smith-Jones", "José", "Łukasz".
_CAP = rf"(?:{_UPPER}'?{_UPPER}?{_LOWER}+(?:{_UPPER}{_LOWER}+)?(?:-{_UPPER}{_LOWER}+)?)"
_ALLCAPS = rf"(?:{_UPPER}{{2,}}(?:['-]{_UPPER}{{2,}})?)"
_INITIAL = rf"(?:{_UPPER}(?:\.|(?![\p{{L}}'-])))"  # "A." or "A", never the first letter of a word
_BLANK = r"[ \t]"
# A name: up to four words and initials in one case style ("John A. Smith", "JOHN A SMITH").
_NAME_MIXED = rf"(?:{_CAP}(?:{_BLANK}+(?:{_INITIAL}|{_CAP})){{0,3}}|{_INITIAL}{_BLANK}+{_CAP}(?:{_BLANK}+{_CAP}){{0,2}})"
_NAME_UPPER = rf"(?:{_ALLCAPS}(?:{_BLANK}+(?:{_ALLCAPS}|{_INITIAL})){{0,3}})"
# "Smith, John A." and "SMITH, JOHN A" (surname first, as headers write it).
_NAME_INVERTED = rf"(?:{_CAP},{_BLANK}*{_CAP}(?:{_BLANK}+{_INITIAL})?|{_ALLCAPS},{_BLANK}*{_ALLCAPS}(?:{_BLANK}+{_INITIAL})?)"
_ANY_NAME = rf"(?:{_NAME_INVERTED}|{_NAME_MIXED}|{_NAME_UPPER})"

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_MONTH_CAP = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|"
              r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?|JAN(?:UARY)?|FEB(?:RUARY)?|MAR(?:CH)?|APR(?:IL)?|MAY|JUNE?|"
              r"JULY?|AUG(?:UST)?|SEPT?(?:EMBER)?|OCT(?:OBER)?|NOV(?:EMBER)?|DEC(?:EMBER)?)")
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MON_NUM = r"(?:0?[1-9]|1[0-2])"
_YEAR = r"(?:(?:19|20)\d{2}|'?\d{2})"
_YEAR4 = r"(?:(?:19|20)\d{2})"
_ORD = r"(?:st|nd|rd|th)"
_LABEL_GAP = r"[ \t]*(?:[:#=]|-|\.|no\.?|num(?:ber)?|is|was|of)?[ \t]*(?:[:#]|no\.?|number)?[ \t]*"


def _labelled(labels: Iterable[str], value: str) -> str:
    """``LABEL: value`` with the label case-insensitive and the value as the ``phi`` group."""
    return rf"(?<![\w])(?i:{_alternatives(labels)})\b{_LABEL_GAP}(?P<phi>{value})"


# --- dates and ages -------------------------------------------------------------------------------------------------

# Words before a month/day with no year ("on 3/4", "since 12/1") that make it a date rather than a fraction.
_DATE_CUES = (r"(?i:on|since|from|to|until|till|thru|through|by|dated|date|dates|of|after|before|starting|effective|"
              r"admitted|discharged|seen|dos|visit|due|last|next|between|and|as of|beginning|ending|begin|end)")

DATE_PATTERNS = [
    # 03/04/2021, 3-4-21, 3.4.2021 (month first), 13/04/2021 (day first when the first number exceeds 12)
    rf"(?<![\w/.-])(?P<phi>{_MON_NUM}(?P<s>[/.-]){_DAY}(?P=s){_YEAR})(?![\w/-]|\.\d)",
    rf"(?<![\w/.-])(?P<phi>(?:1[3-9]|2\d|3[01])(?P<s>[/.-]){_MON_NUM}(?P=s){_YEAR})(?![\w/-]|\.\d)",
    # 2021-03-04, 2021/03/04 (ISO, also with a time after "T")
    rf"(?<![\w/.-])(?P<phi>{_YEAR4}(?P<s>[/.-]){_MON_NUM}(?P=s){_DAY})(?![\w/-]|\.\d)",
    # 03/04 after a cue word ("on 3/4", "DOS: 03/04")
    rf"(?<![\w/.-]){_DATE_CUES}[ \t:]+(?:the[ \t]+)?(?P<phi>{_MON_NUM}/{_DAY})(?![\w/]|\.\d)",
    # March 4, 2021 / March 4th / Mar. 4 '21 / MARCH 4 2021 / Sept 4th, 2021
    rf"(?<![\w])(?P<phi>{_MONTH_CAP}\.?[ \t]+{_DAY}{_ORD}?(?:,?[ \t]+{_YEAR}|(?!\d)))(?![\w])",
    # 4 March 2021 / 4th of March / 4-Mar-2021 / 04MAR2021 / 4 Mar
    rf"(?<![\w])(?P<phi>{_DAY}{_ORD}?(?:[ \t]+of)?[ \t-]?{_MONTH_CAP}\.?(?:,?[ \t-]?{_YEAR})?)(?![\w])",
    # March 2021 / Mar-2021 (month and year are more specific than the year)
    rf"(?<![\w])(?P<phi>{_MONTH_CAP}\.?,?[ \t-]+{_YEAR4})(?![\w])",
    # "in March", "since early October", "mid-June": a month named in running text
    r"(?<![\w])(?i:in|since|during|until|till|by|of|last|next|early|late|mid|before|after|through|from)[ \t-]+"
    r"(?:(?i:early|late|mid)[ \t-]+)?(?P<phi>(?:January|February|March|April|May|June|July|August|September|October|"
    r"November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?)(?![\w])",
    # "DOB: 6/24", "DATE OF SERVICE: 5/29": a month and day after a date field's label
    rf"(?<![\w])(?i:dob|d\.o\.b\.|date|dos|birth|service|admission|admitted|discharge|discharged|visit|exam|"
    rf"examination|injury|surgery|procedure|signed|d|t)\b[^\n:]{{0,24}}:[ \t]*(?P<phi>{_MON_NUM}/{_DAY})(?![\w/]|\.\d)",
    # "on the 4th", "since the 21st", "by the 2nd of"
    rf"(?<![\w])(?i:on|since|until|till|by|before|after|from|through)[ \t]+the[ \t]+(?P<phi>{_DAY}{_ORD})(?![\w])",
]

AGE_PATTERNS = [
    # 92-year-old, 92 year old, 92 yo, 92 y/o, 92 yrs, 92-yr-old, 92yo
    r"(?<![\w.])(?P<phi>(?:9\d|1[0-4]\d))(?=[ \t-]*(?i:years?|yrs?|y/o|y\.o\.|yo|y\b|-?year-old|yr-old))",
    # age 92, aged 95, Age: 91, age of 93, at 94 years
    r"(?<![\w])(?i:age|aged|ages|age of|at the age of|at age)[ \t:]*(?P<phi>(?:9\d|1[0-4]\d))(?![\w.]|\.\d)",
    # "a 92 year" / "in his 90s": decades past 89 as well
    r"(?<![\w])(?i:in[ \t]+(?:his|her|their)[ \t]+(?:early|mid|late)?-?)[ \t]*(?P<phi>(?:9|1[0-4])0'?s)(?![\w])",
]

# --- contact and places ---------------------------------------------------------------------------------------------

PHONE_PATTERNS = [
    # (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567, +1 555 123 4567, 1-800-555-1234, x1234 / ext. 12
    r"(?<![\w+/-])(?P<phi>(?:\+?1[ \t.-]?)?(?:\(\d{3}\)[ \t]?|\d{3}[ \t.-])\d{3}[ \t.-]\d{4}"
    r"(?:[ \t]*(?:x|ext\.?|extension)[ \t]*\d{1,5})?)(?![\w-])",
    # international: +44 20 7946 0958, 001-234-567-8901
    r"(?<![\w+])(?P<phi>(?:\+|00)\d{1,3}(?:[ \t.-]?\(?\d{1,4}\)?){2,5}\d)(?![\w-])",
    # "call her at 0494 92 82 32", "reach him on 699 956 915": digit groups after a calling verb
    r"(?<![\w])(?i:call(?:ed|ing)?|reach(?:ed)?|text(?:ed)?|dial(?:ed)?|ring|phoned?|contact(?:ed)?|answering|"
    r"messages?)\b[^\n\d]{0,24}?[ \t](?P<phi>\+?\(?\d{2,4}\)?(?:[ .-]\d{2,4}){1,4})(?![\w-]|[.,]\d)",
    # "Phone:" with the number on the next line
    r"(?<![\w])(?i:phone|telephone|tel|cell|mobile|fax|pager)[ \t]*:[ \t]*\n[ \t]*(?P<phi>\+?\(?\d[\d ().-]{4,18}\d)",
    # labelled: "Phone: 5551234567", "Fax 123-4567", "pager 4321", "beeper #1234"
    _labelled(["phone", "telephone", "tel", "ph", "cell", "cell phone", "mobile", "home phone", "work phone",
               "fax", "fax number", "facsimile", "pager", "beeper", "call back number", "callback", "contact number",
               "phone number", "phone no", "tel no", "direct line", "extension", "ext", "page"],
              r"\+?[\d(][\d() .-]{3,18}\d(?:[ \t]*(?:x|ext\.?)[ \t]*\d{1,5})?"),
]

_SUFFIX = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Circle|Cir|"
           r"Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Trail|Trl|Square|Sq|Loop|Alley|Aly|Plaza|Plz|Crossing|Xing|Route|"
           r"Rte|Pike|Ridge|Rdg|Run|Path|Walk|Row|Point|Pt|Heights|Hts|Hill|Hills|Park|Gardens|Gdns|Grove|Grv|View|"
           r"Vista|Station|Sta|Spur|Mall|Junction|Jct|Knoll|Knolls|Meadow|Meadows|Mdws|Mill|Mills|Port|Springs|"
           r"Spgs|Summit|Smt|Valley|Vly|Village|Vlg|Villages|Well|Wells|Creek|Crk|Crest|Cove|Cv|Estate|Estates|Est|"
           r"Falls|Fls|Ferry|Fry|Field|Fields|Flds|Forest|Frst|Fork|Forks|Harbor|Hbr|Haven|Hvn|Island|Is|Islands|"
           r"Lake|Lakes|Lk|Lks|Landing|Lndg|Lodge|Ldg|Manor|Mnr|Mount|Mt|Mountain|Mtn|Orchard|Orch|Oval|Pass|Pines|"
           r"Pne|Plains|Pln|Prairie|Pr|Ranch|Rnch|Rapids|Rpds|Rest|River|Riv|Shoal|Shoals|Shore|Shores|Shr|Skyway|"
           r"Spring|Spg|Stream|Strm|Throughway|Trace|Trce|Track|Trak|Turnpike|Tpke|Tunnel|Underpass|Union|Un|Via|"
           r"Viaduct|Ville|Vl|Wall|Way|Ways|Expressway|Expy|Freeway|Fwy|Causeway|Cswy|Bypass|Byp|Bend|Bnd|Bluff|"
           r"Blf|Bluffs|Bottom|Btm|Branch|Br|Bridge|Brg|Brook|Brk|Brooks|Burg|Burgs|Camp|Cp|Canyon|Cyn|Cape|Cpe|"
           r"Center|Ctr|Centers|Cliff|Clf|Cliffs|Club|Clb|Common|Commons|Corner|Cor|Corners|Cors|Course|Crse|"
           r"Courts|Cts|Coves|Curve|Curv|Dale|Dl|Dam|Dm|Divide|Dv|Drives|Drs|Extension|Ext|Extensions|Fall|Flat|"
           r"Flt|Flats|Ford|Frd|Fords|Forge|Frg|Forges|Fort|Ft|Garden|Gdn|Gateway|Gtwy|Glen|Gln|Glens|Green|Grn|"
           r"Greens|Groves|Harbors|Inlet|Inlt|Isle|Key|Ky|Keys|Kys|Light|Lgt|Lights|Loaf|Lf|Lock|Lck|Locks|Manors|"
           r"Motorway|Mews|Neck|Nck|Overpass|Opas|Parks|Parkways|Passage|Psge|Pine|Plain|Plaza|Points|Pts|Ports|Prt|"
           r"Radial|Radl|Ramp|Rapid|Rpd|Ridges|Rdgs|Roads|Rds|Routes|Shoal|Skwy|Squares|Sqs|Stravenue|Stra|Streets|"
           r"Sts|Summit|Throughway|Trwy|Trafficway|Trfy|Trailer|Trlr|Tunl|Unions|Uns|Valleys|Vlys|Views|Vws|Vis|"
           r"Villiage|Walks|Wl|Wls|Xrd|Crossroad|Crossroads)")
_STREET_WORD = rf"(?:{_UPPER}[\p{{L}}'-]*\.?|\d{{1,3}}(?:st|nd|rd|th))"
ADDRESS_PATTERNS = [
    # 123 Main Street Apt. 4, 4501 N. Elm Ave, Suite 200, 77 Massachusetts Avenue #5
    rf"(?<![\w-])(?P<phi>\d{{1,6}}[A-Z]?(?:[ \t]+(?:[NSEW]|North|South|East|West|NE|NW|SE|SW)\.?)?"
    rf"(?:[ \t]+{_STREET_WORD}){{1,4}}[ \t]+{_SUFFIX}\.?(?:[ \t]+(?:[NSEW]|NE|NW|SE|SW)\.?)?"
    rf"(?:,?[ \t]+(?i:apt\.?|apartment|suite|ste\.?|unit|#|no\.?|room|rm\.?|floor|fl\.?|bldg\.?|building|lot|space)"
    rf"[ \t]*#?[ \t]*[\w-]{{1,6}})?)(?![\w])",
    # P.O. Box 1234, PO Box 77, Post Office Box 3
    r"(?<![\w])(?P<phi>(?i:p\.?[ \t]?o\.?[ \t]*box|post[ \t]+office[ \t]+box)[ \t]*#?[ \t]*\d{1,7})(?![\w])",
    # military addresses that Faker also writes: PSC 1234, Box 5678 / USNS Ship / Unit 1234 Box 5678 / APO AE 12345
    r"(?<![\w])(?P<phi>(?:PSC|Unit|USNS|USNV|USS|USCGC)[ \t]+[\w]+(?:[ \t]+[\w]+)?,?[ \t]+Box[ \t]+\d{1,6})(?![\w])",
    r"(?<![\w])(?P<phi>(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5})(?![\w])",
    # "Address:" and the lines under it, to a blank line or the next "Label:" line
    r"(?<![\w])(?i:address|addr|home address|street address|mailing address|billing address|residence)[ \t]*:"
    r"[ \t]*\n?[ \t]*(?P<phi>[^\n:]*\d[^\n:]*(?:\n[ \t]*[^\n:]+){0,4})",
    _labelled(["address", "addr", "home address", "street address", "mailing address", "street", "residence"],
              r"\d{1,6}[ \t]+(?:[\p{L}\d.'#-]+[ \t]*){1,6}"),
]


def _state_alternatives() -> str:
    return _alternatives(lexicon()["us_states"] + lexicon()["us_state_codes"])


def city_patterns() -> list[str]:
    """City in "City, ST 12345" / "City, State" lines and after "lives in", "resident of" and labels."""
    city = rf"{_UPPER}{_LOWER}[\p{{L}}.'-]*(?:[ \t]+{_UPPER}[\p{{L}}.'-]+){{0,3}}"
    states = _state_alternatives()
    return [
        rf"(?<![\w])(?P<phi>{city}),[ \t]*(?:{states})\.?(?:[ \t]+\d{{5}}(?:-\d{{4}})?|(?![\w]))",
        rf"(?<![\w])(?i:lives|living|resides|residing|resident|moved|relocated|born|raised|grew[ \t]+up|"
        rf"lived|stays|staying|visiting|traveled|travelled|home)(?:[ \t]+(?i:alone|together|independently|"
        rf"with[ \t]+(?:her|his|their)[ \t]+\w+|now|currently|still|here))?[ \t]+(?i:in|at|of|to|near|from)[ \t]+"
        rf"(?:(?i:the[ \t]+)?(?i:city|town|village)[ \t]+of[ \t]+)?(?P<phi>{city})",
        _labelled(["city", "town", "city/town", "place of birth", "birthplace", "city of residence", "hometown"],
                  city),
    ]


def zip_patterns() -> list[str]:
    """ZIP codes after a state ("MA 02114") or their label."""
    states = _state_alternatives()
    return [
        rf"(?<![\w])(?:{states})\.?,?[ \t]+(?P<phi>\d{{5}}(?:-\d{{4}})?)(?![\w-])",
        _labelled(["zip", "zip code", "zipcode", "postal code", "postcode", "zip+4"],
                  r"\d{5}(?:-\d{4})?|(?=[A-Z0-9 -]{0,7}\d)[A-Z0-9]{2,5}(?:[ -][A-Z0-9]{2,4})?(?![\w])"),
    ]


def hospital_patterns() -> list[str]:
    """Named facilities: "Mercy General Hospital", "St. Luke's Medical Center", "Mayo Clinic"."""
    words = rf"(?:(?:St\.?|Saint|Mt\.?|Mount)[ \t]+)?{_UPPER}[\p{{L}}'&.-]*(?:[ \t]+(?:of|the|and|&|for|at)?[ \t]*{_UPPER}[\p{{L}}'&.-]*){{0,5}}"
    suffixes = _alternatives(lexicon()["hospital_suffixes"])
    return [rf"(?<![\w])(?P<phi>{words}[ \t]+(?:{suffixes}))(?![\w])",
            rf"(?<![\w])(?P<phi>(?:University|Univ\.?)[ \t]+of[ \t]+{_UPPER}[\p{{L}}'.-]*(?:[ \t]+{_UPPER}[\p{{L}}'.-]*){{0,3}}"
            rf"(?:[ \t]+(?:{suffixes}))?)(?![\w])",
            rf"(?<![\w])(?i:hospital|facility|facility name|institution|outside hospital|osh)[ \t]*:[ \t]*"
            rf"(?P<phi>{_UPPER}[\p{{L}}'&.-]+(?:[ \t]+{_UPPER}[\p{{L}}'&.-]+){{0,5}})"]


def is_specific_facility(text: str) -> bool:
    """False for generic departments ("Outpatient Clinic", "the Emergency Hospital"): nothing names a place."""
    generic = {w.lower() for w in lexicon()["generic_facility_words"]}
    suffix_words = {w.lower() for s in lexicon()["hospital_suffixes"] for w in s.split()}
    words = [w.strip(".,'&").lower() for w in text.split()]
    return any(w and w not in generic and w not in suffix_words for w in words)


WARD_PATTERNS = [
    # Ward 7B, Unit 4 West, Room 412, Rm. 12B, Bed 3, Pod C, Bay 4, Suite 210 (inside a facility)
    r"(?<![\w])(?P<phi>(?:Ward|WARD|Unit|UNIT|Room|ROOM|Rm\.?|RM\.?|Bed|BED|Pod|POD|Bay|BAY|Cubicle|Exam Room)"
    r"[ \t]*#?[ \t]*(?:\d{1,4}[A-Z]?(?:[ \t-]?(?:North|South|East|West|[NSEW]))?|[A-Z]\d{0,3})(?:-[A-Z0-9]{1,3})?)(?![\w])",
    # 4 West, 7 North, 5N, 9E (a ward by its floor and wing)
    r"(?<![\w/.-])(?P<phi>\d{1,2}[ \t]?(?:North|South|East|West|[NSEW])(?:[ \t](?:Wing|Tower|Pavilion|Unit|Ward))?)"
    r"(?![\w])(?!\s*(?i:of|street|st\b|ave|avenue|road|rd\b|side))",
    # "the Ellison 12 unit", "Blake 7": a named building and floor before "unit/ward/floor"
    rf"(?<![\w])(?P<phi>{_UPPER}{_LOWER}+[ \t]+\d{{1,2}}[A-Z]?)(?=[ \t]+(?i:unit|ward|floor|tower|wing|pavilion)\b)",
    rf"(?<![\w])(?P<phi>{_UPPER}{_LOWER}+(?:[ \t]+{_UPPER}{_LOWER}+)?[ \t]+(?:Wing|Tower|Pavilion|Building))(?![\w])",
]

# --- numbers behind labels ------------------------------------------------------------------------------------------

_ID_VALUE = r"(?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{2,24}[A-Za-z0-9]"
_ID_VALUES = rf"{_ID_VALUE}(?:[ \t]?[-/][ \t]?{_ID_VALUE})?"
ID_LABELS = {
    MRN: ["mrn", "mr", "mr#", "mr no", "medical record", "medical record number", "medical records number",
          "med rec", "med rec no", "med. rec.", "record number", "record no", "record #", "hospital number",
          "hospital no", "hosp no", "hospital #", "unit number", "unit no", "patient id", "patient number", "pt id",
          "patient #", "pt #", "chart", "chart number", "chart no", "chart #", "emr", "emr number", "ehr number",
          "cmrn", "empi", "mpi", "registration number", "reg no", "accession", "accession number", "accession no",
          "acc #", "specimen number", "specimen no", "specimen id", "lab number", "lab id", "order number",
          "order no", "order #", "study id", "exam number", "requisition", "requisition number", "req #",
          "case number", "case no", "case #", "path number", "pathology number", "surgical pathology number",
          "s#", "film number", "identifier", "id number", "id no", "id #", "id", "patient identifier", "clinic number",
          "ur number", "urn", "health record number", "nhs number", "nhs no", "dob/mrn", "hn"],
    ACCOUNT: ["account", "account number", "account no", "account #", "acct", "acct no", "acct #", "acct.",
              "a/c", "billing number", "billing no", "billing account", "bill number", "invoice", "invoice number",
              "encounter", "encounter number", "encounter no", "encounter id", "enc #", "enc no", "csn", "fin",
              "fin number", "fin #", "visit number", "visit no", "visit id", "visit #", "har", "har number",
              "admission number", "admission no", "admit number", "episode number", "claim", "claim number",
              "claim no", "claim #", "financial number", "guarantor number", "guarantor id", "bank account",
              "routing number", "credit card", "card number", "check number"],
    HEALTH_PLAN: ["member id", "member number", "member no", "member #", "membership number", "subscriber id",
                  "subscriber number", "subscriber no", "subscriber #", "policy", "policy number", "policy no",
                  "policy #", "policy id", "group", "group number", "group no", "group #", "group id",
                  "insurance id", "insurance number", "insurance no", "insurance #", "insurance policy",
                  "plan id", "plan number", "health plan", "health plan id", "health plan number",
                  "health plan beneficiary number", "beneficiary id", "beneficiary number", "medicare",
                  "medicare number", "medicare no", "medicare id", "medicare #", "medicaid", "medicaid number",
                  "medicaid no", "medicaid id", "medicaid #", "hicn", "mbi", "hic number", "payer id", "payor id",
                  "carrier id", "insured id", "id card", "coverage id", "tricare", "tricare number", "bcbs id",
                  "blue cross", "blue cross id", "authorization number", "auth number", "auth #", "prior auth",
                  "pre-authorization", "precert", "precert number", "certificate of coverage"],
    LICENSE: ["license", "license number", "license no", "license #", "licence", "licence number", "licence no",
              "lic", "lic no", "lic #", "lic.", "medical license", "state license", "driver's license",
              "drivers license", "driver license", "driver's licence", "dl", "dl #", "dl no", "dea", "dea number",
              "dea no", "dea #", "dea registration", "npi", "npi number", "npi no", "npi #", "upin", "certificate",
              "certificate number", "certification number", "cert no", "cert #", "board certification",
              "registration", "permit", "permit number", "passport", "passport number", "passport no",
              "state id", "state id number", "professional license", "nursing license", "rn license",
              "provider number", "provider id", "tax id", "tin", "ein", "itin"],
    DEVICE: ["serial", "serial number", "serial no", "serial #", "s/n", "sn", "device id", "device number",
             "device serial", "device identifier", "udi", "unique device identifier", "model number", "model no",
             "model #", "lot", "lot number", "lot no", "lot #", "implant id", "implant serial", "pacemaker serial",
             "generator serial", "lead serial", "imei", "mac address", "catalog number", "catalog no", "ref",
             "ref #", "ref no", "reference number", "asset tag", "asset number", "pump id", "pump serial"],
    VEHICLE: ["vin", "vehicle identification number", "vehicle id", "vehicle identification", "license plate",
              "licence plate", "plate", "plate number", "plate no", "plate #", "tag number", "registration plate",
              "vehicle registration", "vehicle plate", "car plate"],
    SSN: ["ssn", "ss#", "ss #", "ss no", "soc sec", "social security", "social security number",
          "social security no", "social security #", "social", "sin"],
}


def id_patterns(entity: str) -> list[str]:
    """``LABEL: value`` for one of the number types in :data:`ID_LABELS`."""
    return [_labelled(ID_LABELS[entity], _ID_VALUES)]


# Web addresses: with a scheme, from "www.", or a host under a common top-level domain. Presidio's URL recognizer
# (every top-level domain, with look-arounds) took a tenth of the whole time on MTSamples notes; this finds the
# same addresses in the benchmark's texts.
_TLD = (r"(?:com|org|net|edu|gov|mil|int|info|biz|io|co|us|uk|ca|au|de|fr|nl|es|it|ch|se|no|dk|fi|ie|be|at|pl|in|"
        r"jp|cn|br|mx|nz|za|health|care|clinic|hospital|med|app|ai|me|tv|ly|gl|to)")
URL_PATTERNS = [r"(?<![\w@/.-])(?P<phi>(?i:https?|ftps?|sftp)://[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?])",
                r"(?<![\w@/.-])(?P<phi>(?i:www)\.[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:/[^\s<>\"'()]*[^\s<>\"'().,;:!?])?)",
                rf"(?<![\w@/.-])(?P<phi>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.{_TLD}/[^\s<>\"'()]*[^\s<>\"'().,;:!?])",
                rf"(?<![\w@/.-])(?P<phi>(?:[a-z0-9-]+\.)+{_TLD})(?![\w@-]|\.\w)"]

SSN_PATTERNS = [r"(?<![\w-])(?P<phi>(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4})(?![\w-])",
                *id_patterns(SSN)]
# 17-character vehicle identification numbers (no I, O or Q), with at least three digits and two letters.
VEHICLE_PATTERNS = [_labelled(["license plate", "licence plate", "plate", "plate number", "plate no", "tag number",
                               "registration plate", "vehicle plate", "car plate", "tag"],
                              r"(?=[A-Z0-9 -]*\d)[A-Z0-9]{1,4}[ -]?[A-Z0-9]{1,5}(?:[ -][A-Z0-9]{1,4})?"),
                    r"(?<![\w-])(?P<phi>(?=(?:[A-HJ-NPR-Z]*\d){3})(?=(?:\d*[A-HJ-NPR-Z]){2})[A-HJ-NPR-Z0-9]{17})(?![\w-])",
                    *id_patterns(VEHICLE)]
# Unlabelled long numbers: seven or more digits (a record, account or phone number; lab values are shorter),
# and codes that mix letters and at least five digits ("AB1234567").
ID_PATTERNS = [r"(?<![\w.,/-])(?P<phi>\d{7,})(?![\w]|[.,]\d)",
               r"(?<![\w.-])(?P<phi>(?=[A-Z]{0,4}\d{5,})[A-Z]{1,4}-?\d{5,12}[A-Z]?)(?![\w-])",
               r"(?<![\w.-])(?P<phi>\d{2,5}-\d{3,7}-\d{2,7}(?:-\d{1,7})?)(?![\w-])"]

# --- names ------------------------------------------------------------------------------------------------------------


def title_name_patterns() -> list[str]:
    """Names after a title: "Dr. Smith", "Dr. John A. Smith", "Mrs. O'Brien", "DR. SMITH", "Drs. Smith and Jones"."""
    titles = "|".join(regex.escape(t) for t in sorted(lexicon()["titles"], key=len, reverse=True))
    return [rf"(?<![\w])(?:{titles})\.?[ \t]+(?P<phi>{_ANY_NAME})",
            rf"(?<![\w])(?i:drs)\.?[ \t]+{_CAP}[ \t]+and[ \t]+(?P<phi>{_CAP})"]


def is_title_name(text: str) -> bool:
    """False only for the words that follow a title without naming anyone ("Dr. Note", "Mr. Patient")."""
    return text.split()[0].strip(",.") not in {"Patient", "Note", "The", "Office", "Name", "Unknown", "Staff", "On",
                                                "Call", "Covering", "Attending", "Resident", "Team"}


def name_patterns() -> list[str]:
    """Names found by their clinical context: titles, labels, relations, credentials, signatures."""
    words = lexicon()
    titles = "|".join(regex.escape(t) for t in sorted(words["titles"], key=len, reverse=True))
    labels = _alternatives(words["name_labels"])
    relations = _alternatives(words["relations"])
    credentials = "|".join(regex.escape(c).replace(r"\ ", "[ \t]?") for c in
                           sorted(words["credentials"], key=len, reverse=True) if c not in ("Jr", "Sr", "II", "III", "IV"))
    title = rf"(?:{titles})\.?"
    return [
        # Patient: John Smith / PATIENT NAME: DOE, JOHN / Attending: Dr. Smith / cc: Jane Roe, MD
        rf"(?<![\w])(?i:{labels})[ \t]*(?:[:#-]|\bis\b)[ \t]*(?:{title}[ \t]+)?(?P<phi>{_ANY_NAME})",
        # Electronically signed by John Smith (no colon)
        rf"(?<![\w])(?i:signed|dictated|transcribed|authenticated|attested|cosigned|reviewed|approved|verified|"
        rf"interpreted|performed|prepared|entered|written|referred|seen|evaluated|examined|accompanied|"
        rf"covered|staffed|discussed)[ \t]+(?i:by|with)[ \t]+(?:{title}[ \t]+)?(?P<phi>{_ANY_NAME})",
        # his wife Mary, her daughter, Jane Doe, (son) Tom
        rf"(?<![\w])(?i:{relations})(?:'s)?,?[ \t]+(?:(?i:named|is|was|called)[ \t]+)?(?P<phi>{_NAME_MIXED}|{_NAME_UPPER})"
        rf"(?=[\s,.;:)]|$)",
        # John Smith, MD / JOHN A SMITH M.D. / Jane Roe RN
        rf"(?<![\w])(?P<phi>{_NAME_MIXED}|{_NAME_UPPER}),?[ \t]+(?:{credentials})(?![\w])",
        # /s/ John Smith, "Sincerely, John Smith" on its own line
        rf"(?:/s/|(?i:sincerely|regards|respectfully|thank you)[ \t]*,?[ \t]*\n)[ \t]*(?P<phi>{_NAME_MIXED}|{_NAME_UPPER})",
        # Dear John, / Hi Mary
        rf"(?<![\w])(?i:dear|hi|hello)[ \t]+(?:{title}[ \t]+)?(?P<phi>{_NAME_MIXED})(?=[ \t]*[,:\n])",
        # "the patient, John Smith," / "Mr Smith's"
        rf"(?<![\w])(?i:patient|pt|client|resident|examinee|claimant|infant|baby|child|boy|girl|man|woman|"
        rf"gentleman|lady|male|female)[ \t]*,?[ \t]+(?P<phi>{_CAP}[ \t]+{_CAP})(?=[ \t]*,)",
        # John Smith is a 45-year-old / Jane (age 32) / Smith is a pleasant ...
        rf"(?<![\w])(?P<phi>{_CAP}(?:[ \t]+{_INITIAL})?(?:[ \t]+{_CAP}){{0,2}})(?=[ \t]+(?:is|was)[ \t]+an?[ \t]+"
        rf"(?:\w+[ \t,]+){{0,4}}\d{{1,3}}[- ]?(?:year|yr|month|week|day|y/o|yo\b))",
        # "Shane was seen in clinic", "Maria has been admitted": a capitalized subject of a clinical passive
        rf"(?<![\w])(?P<phi>{_CAP}(?:[ \t]+{_CAP})?)(?=[ \t]+(?:was|is|has[ \t]+been|had[ \t]+been|will[ \t]+be)[ \t]+"
        rf"(?:seen|admitted|readmitted|evaluated|examined|discharged|transferred|brought|referred|followed|treated|"
        rf"taken|scheduled|instructed|counseled|counselled|advised|consented|intubated|extubated)\b)",
    ]


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer with the public suffix list bundled in ``tldextract``, never downloaded.

    Presidio's own calls ``tldextract.extract``, whose first use fetches the list from the network.
    """

    _extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    def validate_result(self, pattern_text: str) -> bool:
        return self._extract(pattern_text).fqdn != ""


def clinical_recognizers() -> list[EntityRecognizer]:
    """Every recognizer this package adds, one per type (names in several)."""
    return [
        GroupRecognizer(DATE, DATE_PATTERNS, 0.9),
        GroupRecognizer(AGE, AGE_PATTERNS, 0.9),
        GroupRecognizer(PHONE, PHONE_PATTERNS, 0.85),
        GroupRecognizer(ADDRESS, ADDRESS_PATTERNS, 0.85),
        GroupRecognizer(CITY, city_patterns(), 0.7),
        GroupRecognizer(ZIP, zip_patterns(), 0.85),
        GroupRecognizer(HOSPITAL, hospital_patterns(), 0.7, validate=is_specific_facility),
        GroupRecognizer(WARD, WARD_PATTERNS, 0.6),
        GroupRecognizer(SSN, SSN_PATTERNS, 0.95),
        GroupRecognizer(URL, URL_PATTERNS, 0.8),
        GroupRecognizer(VEHICLE, VEHICLE_PATTERNS, 0.8),
        *(GroupRecognizer(entity, id_patterns(entity), 0.9) for entity in (MRN, ACCOUNT, HEALTH_PLAN, LICENSE, DEVICE)),
        GroupRecognizer(ID, ID_PATTERNS, 0.5),
        GroupRecognizer(NAME, name_patterns(), 0.9, validate=is_plausible_name, name="ClinicalNameContext"),
        GroupRecognizer(NAME, title_name_patterns(), 0.9, validate=is_title_name, name="ClinicalNameTitle"),
    ]


def is_plausible_name(text: str) -> bool:
    """False when every word of a context-found name is a common heading or clinical word ("Patient", "History")."""
    common = _not_name_words()
    words = [w.strip(".,") for w in text.replace(",", " ").split()]
    return any(w not in common and w.capitalize() not in common for w in words if len(w) > 1)


@cache
def census_names() -> frozenset[str]:
    """First and last names of the US census lists (1990) in the ``names`` package, upper case (94,293)."""
    files = resources.files("names")
    found = set()
    for name in ("dist.all.last", "dist.female.first", "dist.male.first"):
        for line in files.joinpath(name).read_text(encoding="ascii").splitlines():
            if line.strip():
                found.add(line.split()[0])
    return frozenset(found)


@cache
def _not_name_words() -> frozenset[str]:
    return frozenset(lexicon()["not_name_words"])
