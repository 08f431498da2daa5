"""Identifiers with a shape: contacts, numbers, addresses, places, organisations, ages. Compiled once.

Each finder yields (start, end, type); the engine decides overlaps. Numbers followed by a unit are measurements,
never identifiers ("125000 copies", "1200 cc").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

Found = tuple[int, int, str]

STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California", "CO": "Colorado",
    "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky",
    "LA": "Louisiana", "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire",
    "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota",
    "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming", "PR": "Puerto Rico", "GU": "Guam",
    "VI": "Virgin Islands", "AS": "American Samoa", "MP": "Northern Mariana Islands", "FM": "Federated States of Micronesia",
    "MH": "Marshall Islands", "PW": "Palau", "AA": "Armed Forces Americas", "AE": "Armed Forces Europe", "AP": "Armed Forces Pacific",
}  # fmt: skip
_STATE = (
    r"(?:"
    + "|".join(sorted(STATES, key=len, reverse=True))
    + "|"
    + "|".join(sorted(STATES.values(), key=len, reverse=True))
    + r")"
)
_UNIT = (
    r"(?:\s*(?:mg|mcg|g|kg|lb|lbs|ml|mL|cc|l|L|units?|iu|IU|copies|cells|/mm3|/ul|/uL|/µL|mm|cm|m|%|meq|mEq|mmol|"
    r"ng|pg|bpm|mmHg|sec|seconds|min|minutes|hours?|days?|steps|calories|kcal))\b"
)

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
URL = re.compile(
    r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"'()\[\]]+"
    r"|(?<![@\w.-])(?:[A-Za-z0-9-]+\.)+(?:com|org|net|edu|gov|mil|io|us|info|biz|health|co|uk|ca)(?:/[^\s<>\"'()\[\]]*)?(?![\w-])"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(r"(?<![\w.])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?![\w]|\.\d)")
IPV6 = re.compile(
    r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?"
    r"|::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4})(?![\w:])"
)
SSN = re.compile(r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])")
SSN_LABELLED = re.compile(
    r"(?i:\b(?:SSN|SS#|social\s+security(?:\s+(?:number|no\.?|#))?)\s*(?:is|:|#)?\s*)(\d{3}[- ]?\d{2}[- ]?\d{4})(?!\d)"
)
PHONE = re.compile(
    r"(?<![\w+/.-])(?:(?:\+?1|001)[\s.-]?)?(?:\(\d{3}\)\s*|\d{3}[\s.-])\d{3}[\s.-]\d{4}"
    r"(?:\s*(?:x|ext\.?|extension|#)\s*\d{1,6})?(?![\w/-]|\.\d)"
    r"|(?<![\w+/.-])(?:\+?1)?\d{10}(?:\s*(?:x|ext\.?|extension)\s*\d{1,6})?(?![\w/-]|\.\d)"
    r"|(?<![\w+/.-])\+\d{1,3}[\s.-]\d{2,4}[\s.-]\d{3,4}[\s.-]\d{3,4}(?![\w/-]|\.\d)"
)
PHONE_SHORT = re.compile(r"(?<![\w/.-])\d{3}-\d{4}(?:\s*(?:x|ext\.?)\s*\d{1,6})?(?![\w/-]|\.\d)")
_PHONE_CUE = re.compile(
    r"(?i:phone|tel\b|telephone|call|cell|mobile|pager|page|beeper|fax|contact|reach|number|ph\b|#|direct|office|home|work)"
)
_FAX_CUE = re.compile(r"(?i:\bfax|facsimile)")

_ID_LABEL = (
    r"(?:MRN|MR\s*#|medical\s+record(?:\s+(?:number|no\.?|#))?|record\s+(?:number|no\.?|#)|chart\s*(?:number|no\.?|#)"
    r"|account(?:\s+(?:number|no\.?|#))?|acct\.?(?:\s*(?:number|no\.?|#))?|member(?:ship)?\s*(?:id|number|no\.?|#)"
    r"|subscriber\s*(?:id|number|no\.?|#)|insurance(?:\s+(?:id|number|no\.?|#|policy(?:\s+(?:number|no\.?|#))?))?"
    r"|policy\s*(?:number|no\.?|#|id)?|group\s*(?:number|no\.?|#|id)|plan\s*(?:id|number|no\.?|#)"
    r"|beneficiary\s*(?:id|number|no\.?|#)?|health\s+plan(?:\s+(?:beneficiary|member))?\s*(?:id|number|no\.?|#)?"
    r"|medicaid(?:\s*(?:id|number|no\.?|#))?|medicare(?:\s*(?:id|number|no\.?|#|beneficiary\s+identifier|MBI))?|MBI"
    r"|claim\s*(?:id|number|no\.?|#)|encounter\s*(?:id|number|no\.?|#)|visit\s*(?:id|number|no\.?|#)"
    r"|case\s*(?:id|number|no\.?|#)|accession\s*(?:id|number|no\.?|#)?|specimen\s*(?:id|number|no\.?|#)"
    r"|order\s*(?:id|number|no\.?|#)|requisition\s*(?:id|number|no\.?|#)?|device(?:\s+(?:id|identifier|serial(?:\s+(?:number|no\.?|#))?|number|no\.?|#|udi))?"
    r"|UDI|serial(?:\s*(?:number|no\.?|#))?|S/N|lot\s*(?:number|no\.?|#)?"
    r"|(?:driver'?s?\s+)?licen[cs]e(?:\s*(?:plate|number|no\.?|#))?|DL|passport(?:\s*(?:number|no\.?|#))?"
    r"|certificate\s*(?:id|number|no\.?|#)|NPI|DEA(?:\s*(?:number|no\.?|#))?|UPIN|VIN|vehicle\s+(?:id|identification)(?:\s+number)?"
    r"|badge\s*(?:id|number|no\.?|#)|employee\s*(?:id|number|no\.?|#)"
    r"|patient\s*(?:id|identifier|number|no\.?|#)|person\s+(?:id|number)|unit\s*(?:number|no\.?)|FIN|CSN|HAR|EMPI|UID|ID|identifier)"
)
ID_LABELLED = re.compile(
    r"(?i:\b" + _ID_LABEL + r")(?i:\s*(?:[:#=]|is|was|of)?\s*(?:#\s*)?)"
    r"(?P<v>(?=[A-Za-z0-9-]*\d)[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){2,})"
)
ID_MIXED = re.compile(r"(?<![\w.-])(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9]+(?:-[A-Z0-9]+)*(?![\w-])")
ID_DIGITS = re.compile(r"(?<![\w.,/-])\d+(?:[- ]\d+)*(?![\w/-]|[.,]\d)")

_SUFFIXES = (
    "Alley Aly Annex Arcade Avenue Ave Av Bayou Beach Bend Bluffs? Bottom Boulevard Blvd Branch Bridge Brooks? Burgs? "
    "Bypass Byp Camp Canyon Cape Causeway Centers? Ctr Circles? Cir Cliffs? Club Commons? Corners? Course Courts? Ct "
    "Coves? Creek Crescent Cres Crest Crossing Crossroads? Curve Dale Dam Divide Drives? Dr Estates? Expressway Expy "
    "Extensions? Ext Falls? Ferry Fields? Flats? Fords? Forest Forges? Forks? Fort Freeway Fwy Gardens? Gateway Glens? "
    "Greens? Groves? Harbors? Haven Heights Hts Highway Hwy Hills? Hollow Inlet Islands? Isle Junctions? Keys? Knolls? "
    "Lakes? Land Landing Lane Ln Lights? Loaf Locks? Lodge Loop Mall Manors? Meadows? Mews Mills? Mission Motorway "
    "Mount Mountains? Neck Orchard Oval Overpass Parks? Parkways? Pkwy Pass Passage Path Pike Pines? Place Pl Plains? "
    "Plaza Plz Points? Ports? Prairie Radial Ramp Ranch Rapids? Rest Ridges? River Roads? Rd Route Rte Row Rue Run "
    "Shoals? Shores? Skyway Springs? Spurs? Squares? Sq Station Stravenue Stream Streets? St Summit Terrace Ter "
    "Throughway Trace Track Trafficway Trail Trl Trailer Tunnel Turnpike Tpke Underpass Unions? Valleys? Viaduct "
    "Via Views? Villages? Ville Vista Walks? Wall Ways? Wells? Xing"
).split()
_SUFFIX = r"(?:" + "|".join(_SUFFIXES) + r")\b\.?"
_LOWER_SUFFIX = (
    r"(?:street|st|avenue|ave|road|rd|lane|ln|drive|boulevard|blvd|court|ct|place|terrace|parkway|highway|hwy|way|circle)\b\.?"
)
_UNIT_DESIGNATOR = r"(?:,?\s+(?i:Apt\.?|Apartment|Suite|Ste\.?|Unit|Room|Rm\.?|Bldg\.?|Building|Floor|Fl\.?|Lot|Trlr|#)\s*#?\s*(?=[A-Za-z]?\d)[A-Za-z0-9-]+)"
_HOUSE = r"(?<![\w.,/-])\d{1,6}[A-Za-z]?(?:-\d{1,4})?"
_DIRECTION = r"(?:(?:[NSEW]|N[EW]|S[EW]|North|South|East|West|Northeast|Northwest|Southeast|Southwest)\.?\s+)?"
ADDRESS = re.compile(
    _HOUSE
    + r"\s+"
    + _DIRECTION
    + r"(?:(?:\d+(?:st|nd|rd|th)|[A-Z][A-Za-z'’.-]*)\s+){1,4}"
    + _SUFFIX
    + _UNIT_DESIGNATOR
    + r"?"
    + r"|"
    + _HOUSE
    + r"\s+(?:[a-z][a-z'’-]+\s+){1,3}"
    + _LOWER_SUFFIX
    + _UNIT_DESIGNATOR
    + r"?"
    + r"|(?i:\b(?:P\.?\s?O\.?\s*Box|Post\s+Office\s+Box|POB)\s*#?\s*\d+)"
)
STREET_NAMED = re.compile(
    r"(?i:\b(?:lives|living|resides|residing|located|address(?:\s+is)?|on|at)\s+)"
    r"((?:[A-Z][a-z]+\s+){1,3}(?:Street|Avenue|Road|Boulevard|Lane|Drive|Parkway|Highway|Terrace)\b)"
)

_CITY = r"(?:(?:North|South|East|West|New|Lake|Port|Fort|Mount|Mt\.|St\.|Saint|San|Santa|Los|Las|El|La|Des|De)\s+)?[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2}"
CITY_STATE_ZIP = re.compile(r"(?P<city>" + _CITY + r"),?\s+(?P<st>" + _STATE + r")\b,?\s*(?P<zip>\d{5}(?:-\d{4})?)(?![\w-])")
_STATE_ABBR = r"(?:" + "|".join(STATES) + r")"
CITY_STATE_ZIP_LOWER = re.compile(
    r"(?<![\w-])(?P<city>[a-z]{3,}(?: [a-z]{3,})?),?\s+(?P<st>(?i:" + _STATE_ABBR + r"))\s+(?P<zip>\d{5}(?:-\d{4})?)(?![\w-])"
)
CITY_AFTER_PREPOSITION = re.compile(r"\b(?:in|from|to|near|at|of|outside)\s+(?P<city>" + _CITY + r")(?![\w-])")
EMPLOYER = re.compile(
    r"(?i:\b(?:employer|employed\s+(?:by|at)|works?\s+(?:for|at)|worked\s+(?:for|at)|workplace)[ \t]*:?[ \t]+)"
    r"(?P<org>[A-Z][\w'’&-]*(?:(?:,?[ \t]+(?:and|&|of)[ \t]+|[ \t]+|,[ \t]*|-)[A-Z][\w'’&-]*){0,4}(?:[ \t]+(?:Inc|Co|Corp|Ltd)\.?)?)"
)
CITY_SPACE_STATE = re.compile(r"(?P<city>" + _CITY + r")[ \t]+(?P<st>" + _STATE + r")\b(?![ \t]*[a-z\d])")
CITY_COMMA_STATE = re.compile(r"(?P<city>" + _CITY + r"),\s+(?P<st>" + _STATE + r")\b(?!\s*[a-z])")
_PLACE_CUE = (
    r"(?i:\b(?:lives?|living|resides?|residing|resident|moved|relocated|born|grew\s+up|raised|visiting|visited|"
    r"travell?ed|traveling|trip|vacation(?:ed|ing)?|returned|came|home|hometown|located|native|originally|"
    r"transferred|transported|flown|airlifted|driven|relocating|moving|works?|worked|working|employed|stationed)"
    r"(?:\s+(?:here|back|up|alone|with\s+\w+))?\s+(?:in|to|from|at|near|of|outside(?:\s+of)?)\s+)"
)
CITY_AFTER_CUE = re.compile(_PLACE_CUE + r"(?P<city>" + _CITY + r")")
COUNTY = re.compile(r"\b(?:[A-Z][a-z]+[ \t]){1,2}(?:County|Parish|Borough)\b")
CITY_ZIP = re.compile(r"(?P<city>" + _CITY + r"),?[ \t]+(?P<zip>\d{5}(?:-\d{4})?)(?![\w-])")
ZIP_LABELLED = re.compile(r"(?i:\b(?:zip(?:\s*code)?|postal\s+code)\s*(?:is|:|#)?\s*)(\d{5}(?:-\d{4})?)(?![\w-])")
PLACE_SUFFIX = re.compile(
    r"(?:ville|burgh|burg|borough|boro|bury|port|mouth|land|shire|ton|town|furt|fort|side|view|haven|field|ford|"
    r"chester|stad|berg|wood|dale|stead|ham|polis|worth|mont|crest|ridge|springs|heights|view|lake|beach|bay|haven)$"
)
AMBIGUOUS_STATES = frozenset("MD PA CT MS OR IN ME OK ID HI DE CO NE OH LA AL MA MO DC AS MP VI GA AA AE AP MH PW FM".split())

_ORG_HEAD = (
    r"(?:Hospital|Medical\s+Center|Medical\s+Centre|Health\s+Center|Health\s+Centre|Health\s+System|Healthcare|"
    r"Health\s+Care|Clinic|Clinics|Infirmary|Nursing\s+Home|Nursing\s+Facility|Nursing\s+Center|Rehabilitation\s+(?:Center|Hospital|Institute)|"
    r"Rehab\s+Center|Urgent\s+Care|Surgery\s+Center|Surgical\s+Center|Cancer\s+(?:Center|Institute)|Heart\s+Institute|"
    r"Eye\s+Institute|Medical\s+Group|Medical\s+Associates|Family\s+(?:Practice|Medicine)|Pediatrics|Pharmacy|"
    r"Laboratories|Laboratory|Labs|Hospice|Sanatorium|Sanitarium|Care\s+Center|Assisted\s+Living|Senior\s+Living|"
    r"Dialysis\s+Center|Imaging\s+Center|Radiology\s+Associates|University|College|Institute|Foundation|Physicians|"
    r"Associates|Partners|Group|Inc\b\.?|LLC|L\.L\.C\.|Ltd\b\.?|PLC|Corp\b\.?|Corporation|Company|Co\.|and\s+Sons|"
    r"Hospitals|Diagnostics|Home\s+Care|Home\s+Health|Visiting\s+Nurse\s+Association|Health\s+Services|Medical\s+Services|"
    r"Medical\s+Practice|Ambulatory\s+Care|Skilled\s+Nursing(?:\s+Facility)?|Psychiatric\s+(?:Hospital|Center)|Behavioral\s+Health|"
    r"Health\s+Partners|Medical\s+Office|Physical\s+Therapy|Dental\s+(?:Group|Care|Associates))"
)
_ORG_WORD = r"(?:[A-Z][\w'’&.-]*|&|and|of|the)"
ORGANIZATION = re.compile(
    r"(?:(?:St\.|Saint|Mt\.|Mount)[ \t]+)?(?:[A-Z][\w'’.-]*,?[ \t]+(?:(?:and|&|of|the|de|del|la)[ \t]+)?){1,5}"
    + _ORG_HEAD
    + r"(?![\w-])"
    r"|(?:Hospital|University|College|Institute|Clinic)[ \t]+(?:of|for)[ \t]+(?:the[ \t]+)?[A-Z][\w'’-]*(?:[ \t]+[A-Z][\w'’-]*){0,3}"
)
# Words that describe an organisation without naming it ('Memorial', 'Community'): a name needs one word more.
# Names such as Mercy, Providence or Sacred Heart do identify a hospital, so they are not here.
GENERIC_ORG_WORDS = frozenset(
    """St. Saint Mt. Mount General Memorial Community Regional County City State University Medical Health Family
    Children's Childrens Women's Womens Veterans Va VA National Central Northern Southern Eastern Western North South
    East West New Urgent Care Surgery Surgical Cancer Heart Eye Rehabilitation Rehab Nursing Home Senior Assisted
    Living Dialysis Imaging Radiology Pediatric Pediatrics Primary Specialty Academic Teaching Research The the of and &
    de Emergency Department Outpatient Inpatient Behavioral Mental Wellness Women Center Centre Hospital Clinic Support
    Blood Age Study Control Treatment Working Risk Peer Focus Ethnic Racial Muscle Drug Team Services Service""".split()
)

AGE = re.compile(
    r"(?<![\w.])(?P<n>9\d|1[0-2]\d)(?=(?i:\s*-?\s*(?:years?|yrs?|yr)(?:\s*-?\s*old|\s+of\s+age)|\s*-?\s*(?:y/?o|yo|yoM|yoF|y/o[MF])\b|\s*-?\s*y\.\s?o\.?"
    r"|-year\b|\s*(?:-|\s)y(?:ea)?r?s?(?:-|\s)old|(?:st|nd|rd|th)\s+birthday))"
    r"|(?i:\b(?:age[ds]?|aged|age\s+of|turned|turning)\s*:?\s*)(?P<m>9\d|1[0-2]\d)(?![\d.]|\s*(?:%|mg|kg|lbs?|cm|mm|ml|units?|minutes|min|seconds|days|weeks|months)\b)"
    r"|(?i:\b(?P<w>ninety(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?|one\s+hundred(?:(?:\s+and)?[- ](?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve))?)(?=[- ](?:years?|yrs?)(?:[- ]old|\s+of\s+age)|-year))"
    r"|(?i:\bin\s+(?:his|her|their)\s+(?:early\s+|mid\s*-?\s*|late\s+)?)(?P<d>(?:9|10|11)0'?s|nineties)\b"
    r"|(?i:\b(?P<x>nonagenarian|centenarian|supercentenarian)s?\b)"
)


def find_contacts(text: str) -> Iterator[Found]:
    for pattern, kind in ((EMAIL, "EMAIL"), (URL, "URL"), (IPV4, "IP"), (IPV6, "IP")):
        for match in pattern.finditer(text):
            end = match.end()
            while end > match.start() and text[end - 1] in ".,;:!?":
                end -= 1
            if kind == "IP" and pattern is IPV6 and not _looks_like_ipv6(match.group(0)):
                continue
            yield match.start(), end, kind
    for match in SSN.finditer(text):
        yield match.start(), match.end(), "SSN"
    for match in SSN_LABELLED.finditer(text):
        yield match.start(1), match.end(1), "SSN"
    for match in PHONE.finditer(text):
        yield match.start(), match.end(), _phone_kind(text, match.start(), match.group(0))
    for match in PHONE_SHORT.finditer(text):
        if _PHONE_CUE.search(text, max(0, match.start() - 25), match.start()):
            yield match.start(), match.end(), _phone_kind(text, match.start(), match.group(0))


def _looks_like_ipv6(value: str) -> bool:
    groups = [g for g in value.split(":") if g]
    return "::" in value and len(groups) >= 2 or len(groups) >= 5


def _phone_kind(text: str, start: int, value: str) -> str:
    before = text[max(0, start - 30) : start]
    digits = sum(c.isdigit() for c in value)
    if digits in (10, 11) and value.isdigit() and not _PHONE_CUE.search(before):
        return "ID"  # a bare ten-digit number: removed either way, but not claimed to be a phone
    return "FAX" if _FAX_CUE.search(before) else "PHONE"


def find_ids(text: str) -> Iterator[tuple[int, int, str, bool]]:
    """(start, end, type, labelled): a labelled value is an identifier whatever its shape."""
    for match in ID_LABELLED.finditer(text):
        value = match["v"]
        if sum(c.isdigit() for c in value) >= 2 and not _measurement(text, match.end("v")):
            yield match.start("v"), match.end("v"), "ID", True
    for match in ID_MIXED.finditer(text):
        if sum(c.isdigit() for c in match.group(0)) >= 5:
            yield match.start(), match.end(), "ID", False
    for match in ID_DIGITS.finditer(text):
        value = match.group(0)
        digits = sum(c.isdigit() for c in value)
        if " " in value and not re.fullmatch(r"\d{3,4}(?: \d{3,4}){2,}", value):
            continue  # numbers in a list, not one identifier
        parts = value.split("-")
        if len(parts) == 2 and len(parts[0]) == len(parts[1]) <= 4:
            continue  # a range: '1983-1988', '140-180'
        if (digits >= 7 or (digits == 6 and "-" not in value)) and not _measurement(text, match.end()):
            yield match.start(), match.end(), "ID", False


def _measurement(text: str, end: int) -> bool:
    return re.match(_UNIT, text[end : end + 12]) is not None


def find_addresses(text: str) -> Iterator[Found]:
    for match in ADDRESS.finditer(text):
        yield match.start(), match.end(), "ADDRESS"
    for match in STREET_NAMED.finditer(text):
        yield match.start(1), match.end(1), "ADDRESS"


def find_places(text: str, *, is_place_word: Callable[..., bool]) -> Iterator[Found]:
    """Cities next to a state and ZIP, after 'lives in'/'moved from', and ZIP codes in those places."""
    for match in CITY_STATE_ZIP.finditer(text):
        yield from _city(match)
        yield match.start("zip"), match.end("zip"), "ZIP"
    for match in CITY_COMMA_STATE.finditer(text):
        st = match["st"]
        if st in AMBIGUOUS_STATES and not re.match(r"\s*(?:[.;)\n]|$)", text[match.end() : match.end() + 2]):
            continue
        yield from _city(match)
    for match in CITY_SPACE_STATE.finditer(text):  # 'seen in Cambridge MA': a known or town-shaped city only
        city = _trim_city(match["city"])
        if city and is_place_word(city) and match["st"] not in AMBIGUOUS_STATES - {"MA", "GA", "PA", "OH", "CO"}:
            yield match.end("city") - len(city), match.end("city"), "LOCATION"
    for match in CITY_STATE_ZIP_LOWER.finditer(text):
        yield match.start("city"), match.end("city"), "LOCATION"
        yield match.start("zip"), match.end("zip"), "ZIP"
    for match in CITY_AFTER_CUE.finditer(text):
        city = _trim_city(match["city"])
        if city and is_place_word(city, after_home_cue=True):
            yield match.start("city"), match.start("city") + len(city), "LOCATION"
    for match in CITY_AFTER_PREPOSITION.finditer(text):
        city = _trim_city(match["city"])
        if city and is_place_word(city) and not _eponym_follows(text, match.start("city") + len(city)):
            yield match.start("city"), match.start("city") + len(city), "LOCATION"
    for match in ZIP_LABELLED.finditer(text):
        yield match.start(1), match.end(1), "ZIP"
    for match in COUNTY.finditer(text):
        yield match.start(), match.end(), "LOCATION"
    for match in CITY_ZIP.finditer(text):
        city = _trim_city(
            match["city"].split(" ", 1)[-1] if match["city"].split()[0] in ("Home", "In", "From") else match["city"]
        )
        if city and is_place_word(city):
            yield match.end("city") - len(city), match.end("city"), "LOCATION"
            yield match.start("zip"), match.end("zip"), "ZIP"


def _eponym_follows(text: str, end: int) -> bool:
    from clinic.deid.names import eponym_follows

    return eponym_follows(text, end)


def _city(match: re.Match[str]) -> Iterator[Found]:
    city = match["city"]
    # the capitalised run may start with words that are not the city ("Home Thomasville"): keep its last words
    words = city.split()
    while words and words[0] in ("Home", "Address", "Lives", "The", "In", "From", "At", "Of", "And", "Patient"):
        words = words[1:]
    if words:
        start = match.start("city") + city.index(words[0])
        yield start, match.end("city"), "LOCATION"


def _trim_city(city: str) -> str:
    words = city.split()
    while words and words[-1] in ("Hospital", "Clinic", "Center", "The", "And"):
        words = words[:-1]
    return " ".join(words)


_LEADING_NOT_ORG = frozenset("The At In From To And Of Transferred Admitted Seen Discharged Referred Followed Patient".split())


_CORPORATE = re.compile(r"(?:Inc\.?|LLC|L\.L\.C\.|Ltd\.?|PLC|Corp\.?|Corporation|Company|Co\.|and\s+Sons)$")


def find_organizations(text: str) -> Iterator[Found]:
    for match in EMPLOYER.finditer(text):
        value = match["org"].rstrip(" ,.")
        if value:
            yield match.start("org"), match.start("org") + len(value), "ORGANIZATION"
    for match in ORGANIZATION.finditer(text):
        if _CORPORATE.search(match.group(0).rstrip()):  # 'Acme Corporation': a company whatever its words
            start = match.start() + len(match.group(0)) - len(match.group(0).lstrip())
            yield start, match.start() + len(match.group(0).rstrip()), "ORGANIZATION"
            continue
        words = [(w.start(), w.group(0)) for w in re.finditer(r"\S+", match.group(0))]
        while words and words[0][1] in _LEADING_NOT_ORG:
            words = words[1:]
        named = [w for w in (w.strip(",") for _, w in words) if w not in GENERIC_ORG_WORDS and _org_name_word(w)]
        if words and named:
            yield match.start() + words[0][0], match.start() + len(match.group(0).rstrip()), "ORGANIZATION"


def _org_name_word(word: str) -> bool:
    """A word that names an organisation: a name, a place, an acronym or an unknown word ('Hunt', 'ABCD', 'Sinai');
    not a specialty or an everyday word ('Pain Management Clinic', 'Renal Clinic')."""
    from clinic.deid import lists

    bare = word.rstrip(".,").removesuffix("'s").removesuffix("’s")
    if re.fullmatch(_ORG_HEAD, bare) or bare in lists.STOPWORDS or not bare[:1].isupper():
        return False
    return bare.isupper() or not lists.is_ordinary(bare) or lists.is_last_name(bare) or lists.is_first_name(bare)


def find_ages(text: str) -> Iterator[tuple[int, int]]:
    """Ages over 89 (the number or number words only, so '93-year-old' keeps '-year-old')."""
    for match in AGE.finditer(text):
        group = next(g for g in ("n", "m", "w", "d", "x") if match[g])
        yield match.start(group), match.end(group)
