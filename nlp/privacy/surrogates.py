"""Realistic fake values for identifiers, consistent within a document.

One :class:`Surrogates` serves one document: the same name gets the same fake everywhere in it ("John
Smith", "Mr. Smith" and "SMITH, JOHN" all become the same person, word by word), and every date moves by
one random offset, a whole number of weeks, so intervals and weekdays between events survive. Formats are
kept: "03/04/2021" stays month/day/year with slashes and zero padding, "March 4th" stays a month name and
an ordinal, "555-123-4567" keeps its punctuation, an all-caps name stays in capitals.

The offset and the fakes come from a random generator seeded per document (from the operating system's
randomness unless a seed is given for tests), so they cannot be worked back from the text.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
import secrets

import regex
from faker import Faker

from nlp.privacy import recognizers as r

MAX_SHIFT_WEEKS = 52
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_WORD = regex.compile(r"\p{L}[\p{L}'-]*\.?|\p{L}")
_NUMERIC_DATE = regex.compile(r"^(\d{1,4})([/.-])(\d{1,2})(?:\2('?\d{2,4}))?$")
# "4 March 2021", "4th of Mar", "04-MAR-21" (day first) and "March 4th, 2021", "Mar 2021", "March" (month first).
_DAY_MONTH = regex.compile(r"^(?P<d1>\d{1,2})(?P<o1>st|nd|rd|th)?(?P<of>[ \t]+of)?(?P<sep1>[ \t-]?)(?P<month>[A-Za-z]+)"
                           r"(?P<dot>\.)?(?:(?P<sep3>,?[ \t-]*)(?P<year>'?\d{2,4}))?$", regex.IGNORECASE)
_MONTH_DAY = regex.compile(r"^(?P<month>[A-Za-z]+)(?P<dot>\.)?(?:(?P<sep2>[ \t]+)(?P<d2>\d{1,2})(?!\d)(?P<o2>st|nd|rd|th)?)?"
                           r"(?:(?P<sep3>,?[ \t-]*)(?P<year>'?\d{2,4}))?$", regex.IGNORECASE)
_DAY_ONLY = regex.compile(r"^(\d{1,2})(st|nd|rd|th)$", regex.IGNORECASE)


def ordinal(day: int) -> str:
    return "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


class Surrogates:
    """Fake values for one document.

    Args:
        seed: Seed of the document's generator; ``None`` draws one from the operating system.
        locale: Faker locale of the fake names and places.
    """

    def __init__(self, seed: int | None = None, locale: str = "en_US"):
        self.seed = secrets.randbits(64) if seed is None else seed
        self.random = random.Random(self.seed)
        self.faker = Faker(locale)
        self.faker.seed_instance(self.seed)
        weeks = self.random.choice([w for w in range(-MAX_SHIFT_WEEKS, MAX_SHIFT_WEEKS + 1) if w])
        self.shift = dt.timedelta(weeks=weeks)
        self._memory: dict[tuple[str, str], str] = {}

    def replace(self, entity: str, value: str) -> str:
        """The fake for ``value`` of type ``entity``; the same value always gets the same fake."""
        if entity == r.NAME:  # word by word: "John Smith" and "JOHN SMITH" share their fakes, each in its own case
            return self._name(value)
        key = (entity, value)
        if key not in self._memory:
            self._memory[key] = self._make(entity, value)
        return self._memory[key]

    def _make(self, entity: str, value: str) -> str:
        if entity == r.NAME:
            return self._name(value)
        if entity == r.DATE:
            return self._date(value)
        if entity == r.AGE:
            return value if value.endswith("s") else str(self.random.randint(90, 99))  # "in her 90s" says little
        if entity == r.EMAIL:
            return self.faker.user_name() + "@" + self.faker.free_email_domain()
        if entity == r.URL:
            return self.faker.url().rstrip("/") if not value.endswith("/") else self.faker.url()
        if entity == r.IP:
            return self.faker.ipv6() if ":" in value else self.faker.ipv4()
        if entity == r.ADDRESS and value[:1].isdigit():
            return self._case_like(value, self.faker.street_address())
        if entity == r.CITY:
            return self._case_like(value, self.faker.city())
        if entity == r.HOSPITAL:
            return self._hospital(value)
        if entity == r.WARD:
            return self._digits(value)
        return self._characters(value)  # numbers and codes: same shape, new characters

    # --- names ---------------------------------------------------------------------------------------------------

    def _name(self, value: str) -> str:
        """Word by word, so every mention of a person's surname gets the same fake surname."""
        inverted = "," in value
        words = list(_WORD.finditer(value))
        pieces, last = [], 0
        for index, match in enumerate(words):
            word = match.group()
            if len(word.rstrip(".")) == 1:
                fake = self.random.choice("ABCDEFGHJKLMNPRSTW") + word[1:]
            else:
                surname = (index == 0) if inverted else (index == len(words) - 1)
                fake = self._word(word.rstrip("."), "last" if surname else "first") + word[len(word.rstrip(".")):]
            pieces.append(value[last:match.start()])
            pieces.append(fake)
            last = match.end()
        pieces.append(value[last:])
        return "".join(pieces)

    def _word(self, word: str, kind: str) -> str:
        key = ("NAME-WORD", word.casefold())
        if key not in self._memory:
            fake = self.faker.last_name() if kind == "last" else self.faker.first_name()
            while fake.casefold() == word.casefold():
                fake = self.faker.last_name() if kind == "last" else self.faker.first_name()
            self._memory[key] = fake
        return self._case_like(word, self._memory[key])

    @staticmethod
    def _case_like(original: str, fake: str) -> str:
        letters = [c for c in original if c.isalpha()]
        if len(letters) > 1 and all(c.isupper() for c in letters):
            return fake.upper()
        return fake

    # --- dates ---------------------------------------------------------------------------------------------------

    def _date(self, value: str) -> str:
        """The date moved by the document's offset, written in the same format; unknown shapes get new digits."""
        text = value.strip()
        for parse in (self._numeric_date, self._named_date, self._day_only):
            shifted = parse(text)
            if shifted is not None:
                return value.replace(text, shifted)
        return self._digits(value)

    def _moved(self, year: int | None, month: int, day: int) -> dt.date | None:
        try:
            return dt.date(year or 2001, month, day) + self.shift
        except ValueError:
            return None

    def _numeric_date(self, text: str) -> str | None:
        match = _NUMERIC_DATE.match(text)
        if not match:
            return None
        first, sep, second, year_text = match.groups()
        if len(first) == 4:  # 2021-03-04
            if not year_text or year_text.startswith("'"):
                return None
            year, month, day = int(first), int(second), int(year_text)
            moved = self._moved(year, month, day)
            return moved and sep.join([f"{moved.year:04d}", self._pad(moved.month, second),
                                       self._pad(moved.day, year_text)])
        day_first = int(first) > 12
        month, day = (int(second), int(first)) if day_first else (int(first), int(second))
        month_text, day_text = (second, first) if day_first else (first, second)
        year = self._year(year_text) if year_text else None
        moved = self._moved(year, month, day)
        if moved is None:
            return None
        parts = [self._pad(moved.month, month_text), self._pad(moved.day, day_text)]
        if day_first:
            parts.reverse()
        if year_text:
            parts.append(self._year_like(moved.year, year_text))
        return sep.join(parts)

    def _named_date(self, text: str) -> str | None:
        match = _DAY_MONTH.match(text) or _MONTH_DAY.match(text)
        if not match or match["month"].lower() not in _MONTHS:
            return None
        month = _MONTHS[match["month"].lower()]
        groups = match.groupdict()
        day_text = groups.get("d1") or groups.get("d2")
        year = self._year(match["year"]) if match["year"] else None
        moved = self._moved(year, month, int(day_text) if day_text else 15)
        if moved is None:
            return None
        month_word = self._month_like(moved.month, match["month"]) + (match["dot"] or "")
        suffix = lambda o: ordinal(moved.day) if o else ""  # noqa: E731 - keeps the ordinal only where there was one
        if groups.get("d1"):
            out = f"{self._pad(moved.day, match['d1'])}{suffix(match['o1'])}{match['of'] or ''}{match['sep1']}{month_word}"
        elif groups.get("d2"):
            out = f"{month_word}{match['sep2']}{self._pad(moved.day, match['d2'])}{suffix(match['o2'])}"
        else:
            out = month_word
        if match["year"]:
            out += (match["sep3"] or "") + self._year_like(moved.year, match["year"])
        return out

    def _day_only(self, text: str) -> str | None:
        match = _DAY_ONLY.match(text)
        if not match:
            return None
        moved = self._moved(2001, 1, int(match[1])) if int(match[1]) <= 31 else None
        if moved is None:
            return None
        return f"{moved.day}{ordinal(moved.day)}" if match[2].islower() else f"{moved.day}{ordinal(moved.day).upper()}"

    @staticmethod
    def _year(text: str) -> int:
        digits = int(text.lstrip("'"))
        if len(text.lstrip("'")) == 2:
            return 2000 + digits if digits <= 40 else 1900 + digits
        return digits

    @staticmethod
    def _year_like(year: int, original: str) -> str:
        if original.startswith("'"):
            return f"'{year % 100:02d}"
        return f"{year % 100:02d}" if len(original) == 2 else f"{year:04d}"

    @staticmethod
    def _pad(number: int, original: str) -> str:
        return f"{number:02d}" if len(original) == 2 and original.startswith("0") or \
            (len(original) == 2 and number >= 10) else str(number)

    @staticmethod
    def _month_like(month: int, original: str) -> str:
        full = calendar.month_name[month]
        word = full if len(original) > 3 and original.lower() in [m.lower() for m in calendar.month_name if m] \
            else calendar.month_abbr[month]
        if original.lower() == "sept" and month == 9:
            word = "Sept"
        if original.isupper():
            return word.upper()
        return word if original[:1].isupper() else word.lower()

    # --- numbers and places --------------------------------------------------------------------------------------

    def _characters(self, value: str) -> str:
        """Digits become random digits and letters random letters of the same case; punctuation stays."""
        out = []
        for i, c in enumerate(value):
            if c.isdigit():
                out.append(str(self.random.randint(1 if i == 0 else 0, 9)))
            elif c.isalpha() and c.isascii():
                letter = self.random.choice("ABCDEFGHJKLMNPRSTUVWXYZ")
                out.append(letter if c.isupper() else letter.lower())
            else:
                out.append(c)
        return "".join(out)

    def _digits(self, value: str) -> str:
        return "".join(str(self.random.randint(0, 9)) if c.isdigit() else c for c in value)

    def _hospital(self, value: str) -> str:
        suffix = next((s for s in sorted(r.lexicon()["hospital_suffixes"], key=len, reverse=True)
                       if value.lower().endswith(s.lower())), "Hospital")
        tail = value[len(value) - len(suffix):] if value.lower().endswith(suffix.lower()) else suffix
        return self._case_like(value, f"{self.faker.last_name()} {tail}")
