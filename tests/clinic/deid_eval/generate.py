"""Carebase's own de-identification evaluation set: `python -m tests.clinic.deid_eval.generate` rewrites notes.jsonl.

Seeded Faker values in sentence templates written for Carebase (no text from ../shared), covering every PHI form
the engine claims (names with titles, labels, relations, signatures and Synthea digits; dates in every common format;
ages over 89 in words and numbers; phones with extensions; SSNs with and without dashes; record, account,
insurance, device and licence numbers; street addresses, PO boxes, ZIP+4, cities, organisations; e-mail, URLs,
IPv4/IPv6), plus trap sentences with eponyms, brand names and capitalised ordinary words that must survive.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

CLINICAL = [
    "CHIEF COMPLAINT: Shortness of breath for three days.",
    "HISTORY OF PRESENT ILLNESS: The patient reports intermittent chest tightness on exertion, relieved by rest.",
    "Denies fever, chills, nausea or vomiting.",
    "PAST MEDICAL HISTORY: Hypertension, type 2 diabetes mellitus, hyperlipidemia.",
    "MEDICATIONS: Metformin 500 mg twice daily, lisinopril 10 mg daily, atorvastatin 40 mg nightly.",
    "ALLERGIES: No known drug allergies.",
    "PHYSICAL EXAMINATION: BP 132/84, pulse 88, respirations 16, temperature 98.4 F, saturation 96% on room air.",
    "Strength is 5/5 in all extremities; reflexes 2+ and symmetric.",
    "She takes 3/4 of a tablet at night and 1/2 tablet in the morning.",
    "Pain is 6/10, improved to 2/10 after medication.",
    "Lungs with scattered expiratory wheezes; no rales.",
    "LABORATORY: WBC 11.2, hemoglobin 12.9, platelets 245, creatinine 1.1, potassium 4.2.",
    "Estimated blood loss 150 mL. Urine output 400 mL.",
    "ASSESSMENT AND PLAN: Community-acquired pneumonia; start ceftriaxone and azithromycin.",
    "The patient was counseled on smoking cessation for 10 minutes.",
    "Continue current insulin regimen; check fingersticks four times daily.",
    "Wound is clean, dry and intact without erythema.",
    "Return precautions were reviewed and understood.",
    "IMPRESSION: No acute intracranial abnormality.",
    "PROCEDURE: Diagnostic colonoscopy with cold snare polypectomy.",
    "The patient tolerated the procedure well and was taken to recovery in stable condition.",
    "Vision 20/40 in the right eye and 20/25 in the left.",
    "Follow-up ultrasound in 6 weeks.",
    "Heparin 5000 units subcutaneously every 8 hours for prophylaxis.",
]

TRAPS = [
    "History of Parkinson disease treated with carbidopa-levodopa.",
    "Hodgkin lymphoma in remission since chemotherapy.",
    "Apgar scores were 7 and 9.",
    "A Foley catheter was placed without difficulty.",
    "Babinski sign is absent bilaterally.",
    "Graves disease treated with methimazole.",
    "Crohn's disease flare managed with budesonide.",
    "Glasgow Coma Scale 14 on arrival.",
    "Bell's palsy on the left, improving.",
    "Down syndrome with hypothyroidism.",
    "May continue current dose of metoprolol.",
    "Will follow up with cardiology next month.",
    "Lasix 40 mg daily and Coumadin per INR.",
    "Tylenol 650 mg as needed for pain.",
    "Addison disease on hydrocortisone.",
    "Alzheimer dementia, moderate stage.",
    "Guillain-Barre syndrome two years ago.",
    "Homans sign negative.",
    "Murphy sign positive on palpation.",
    "Tenderness at McBurney point.",
    "Placed in Trendelenburg position.",
    "Valsalva maneuver terminated the tachycardia.",
    "Romberg test is negative.",
    "Kernig and Brudzinski signs negative.",
    "Tinel sign positive at the wrist.",
    "Lachman test shows a firm endpoint.",
    "Wilms tumor resected in childhood.",
    "Kaposi sarcoma lesions on the legs.",
    "Barrett esophagus on surveillance endoscopy.",
    "Raynaud phenomenon in cold weather.",
    "Hashimoto thyroiditis on levothyroxine.",
    "Epley maneuver performed in clinic.",
    "Holter monitor for 48 hours.",
    "Jackson-Pratt drain left in place.",
    "Skin closed with Vicryl and Dermabond.",
    "Pfannenstiel incision was made.",
    "Whipple procedure for pancreatic adenocarcinoma.",
    "Gleason score 3+4 on biopsy.",
    "Eliquis 5 mg twice daily.",
    "Keppra 500 mg twice daily for seizures.",
    "Medtronic pacemaker interrogated and functioning.",
    "Austin Flint murmur at the apex.",
    "Ramsay Hunt syndrome with vesicles in the ear canal.",
    "Stevens-Johnson syndrome after lamotrigine.",
    "Wolff-Parkinson-White pattern on ECG.",
    "Charcot foot on the right.",
    "Dupuytren contracture of the ring finger.",
    "Baker cyst seen on ultrasound.",
    "Colles fracture treated with a cast.",
    "Bence Jones protein in the urine.",
    "Mallory-Weiss tear on endoscopy.",
    "Hirschsprung disease repaired in infancy.",
    "Kawasaki disease as a child.",
    "Cheyne-Stokes respirations overnight.",
    "Wernicke encephalopathy treated with thiamine.",
    "Horner syndrome on the left.",
    "Takotsubo cardiomyopathy resolved.",
    "Mobitz type II block on telemetry.",
    "Gram stain shows gram-positive cocci.",
    "Hunter syndrome in a sibling.",
    "Gilbert syndrome explains the bilirubin.",
    "Lynch syndrome in the family.",
    "Becker muscular dystrophy in an uncle.",
    "Mark the site before surgery.",
    "Doppler ultrasound of the legs was negative.",
    "Humira every two weeks for psoriasis.",
    "Allegra for seasonal allergies.",
    "Swan-Ganz catheter removed.",
    "Ewing sarcoma of the femur.",
    "Tourette syndrome since childhood.",
]

FORMATS = {
    "iso": lambda d: d.isoformat(),
    "us": lambda d: f"{d.month}/{d.day}/{d.year}",
    "us_pad": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    "us_short": lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",
    "long": lambda d: f"{d:%B} {d.day}, {d.year}",
    "day_first": lambda d: f"{d.day} {d:%B} {d.year}",
    "abbr_ordinal": lambda d: f"{d:%b} {d.day}{_ordinal(d.day)}",
    "month_year_numeric": lambda d: f"{d.month:02d}/{d.year}",
    "month_year": lambda d: f"{d:%B} {d.year}",
    "weekday": lambda d: f"{d:%A}, {d:%B} {d.day}, {d.year}",
    "ordinal_of": lambda d: f"the {d.day}{_ordinal(d.day)} of {d:%B}, {d.year}",
    "dmy_caps": lambda d: f"{d.day:02d}-{d:%b}-{d.year}".upper(),
    "abbr_dot": lambda d: f"{d:%b}. {d.day}, {d.year}",
    "iso_slash": lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    "dotted": lambda d: f"{d.month:02d}.{d.day:02d}.{d.year}",
    "long_ordinal": lambda d: f"{d:%B} {d.day}{_ordinal(d.day)}, {d.year}",
    "abbr_no_year": lambda d: f"{d:%b} {d.day}",
}


def _ordinal(day: int) -> str:
    return "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def phi_sentences(fake, rng: random.Random) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every template once, each with fresh values: (sentence, [(type, value)])."""
    first, last, first2, last2 = fake.first_name(), fake.last_name(), fake.first_name(), fake.last_name()
    date = fake.date_between(start_date=dt.date(1990, 1, 1), end_date=dt.date(2025, 12, 31))
    age = rng.randint(90, 108)
    date_form = rng.choice(sorted(FORMATS))
    when = FORMATS[date_form](date)
    time = f"{rng.randint(7, 18)}:{rng.choice(['00', '15', '30', '45'])}"
    digits = lambda n: "".join(str(rng.randint(0, 9)) for _ in range(n))  # noqa: E731
    phone = f"{rng.randint(201, 989)}-{rng.randint(200, 989)}-{digits(4)}"
    zip5 = f"{rng.randint(1000, 99950):05d}"
    city, state = fake.city(), fake.state_abbr()
    street = fake.street_address()
    lower_street = f"{rng.randint(2, 999)} {rng.choice(['elm', 'oak', 'maple', 'pine', 'cedar'])} {rng.choice(['street', 'st', 'road', 'avenue', 'lane'])}"
    words = ["ninety", "ninety-one", "ninety-two", "ninety-four", "ninety-seven", "one hundred"]
    templates: list[tuple[str, list[tuple[str, str]]]] = [
        (f"Discussed with Dr. {first} {last}, who agrees.", [("NAME", f"{first} {last}")]),
        (f"Electronically signed by: {first2} {last2}, MD on {when} {time}", [("NAME", f"{first2} {last2}"), ("DATE", when)]),
        (f"Attending: {last}, {first}", [("NAME", f"{last}, {first}")]),
        (f"Patient: {first2} {last2}", [("NAME", f"{first2} {last2}")]),
        (f"Seen by {first} {last}, NP, in clinic.", [("NAME", f"{first} {last}")]),
        (f"His daughter {first2} will drive him home.", [("NAME", first2)]),
        (f"Mrs. {last2} tolerated the procedure well.", [("NAME", last2)]),
        (f"PCP: Dr. {last}", [("NAME", last)]),
        (f"{first} {last} is a 54-year-old woman seen for follow-up.", [("NAME", f"{first} {last}")]),
        (f"{first2}{rng.randint(10, 999)} {last2}{rng.randint(10, 999)} was seen today.", []),
        (f"Spoke with {first2} {last2} (sister) by phone.", [("NAME", f"{first2} {last2}")]),
        (f"cc: {first} {last}, RN", [("NAME", f"{first} {last}")]),
        (f"Emergency contact: {first2} {last2} (spouse).", [("NAME", f"{first2} {last2}")]),
        (f"NAME: {last.upper()}, {first.upper()}", [("NAME", f"{last.upper()}, {first.upper()}")]),
        (f"Referred by {first2} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {last2}, PA-C.", [("NAME", last2), ("NAME", first2)]),
        (f"Her husband {first} was at the bedside.", [("NAME", first)]),
        (f"Procedure date: {when}.", [("DATE", when)]),
        (f"DOB: {FORMATS['us_pad'](date)}", [("DATE", FORMATS["us_pad"](date))]),
        (f"Last colonoscopy {FORMATS['month_year'](date)}.", [("DATE", FORMATS["month_year"](date))]),
        (f"Admitted on {FORMATS['abbr_no_year'](date)} at {time}.", [("DATE", FORMATS["abbr_no_year"](date))]),
        (f"Labs drawn {FORMATS['weekday'](date)}.", [("DATE", FORMATS["weekday"](date))]),
        (f"Seen {FORMATS['long_ordinal'](date)} for the same complaint.", [("DATE", FORMATS["long_ordinal"](date))]),
        (f"Surgery {FORMATS['dmy_caps'](date)}.", [("DATE", FORMATS["dmy_caps"](date))]),
        (f"Imaging from {FORMATS['iso_slash'](date)} reviewed.", [("DATE", FORMATS["iso_slash"](date))]),
        (f"She is a {age}-year-old woman.", [("AGE", f"{age}-year-old")]),
        (f"Age: {age}", [("AGE", str(age))]),
        (f"Pleasant {age} y/o man.", [("AGE", str(age))]),
        (f"He is {rng.choice(words)} years old.", [("AGE", "")]),
        (f"Call back at ({rng.randint(201, 989)}) {rng.randint(200, 989)}-{digits(4)} ext. {rng.randint(10, 9999)}.", []),
        (f"Phone: {phone}", [("PHONE", phone)]),
        (f"Fax {rng.randint(201, 989)}.{rng.randint(200, 989)}.{digits(4)}", []),
        (f"Pager +1 {rng.randint(201, 989)} {rng.randint(200, 989)} {digits(4)}.", []),
        (f"SSN {digits(3)}-{digits(2)}-{digits(4)}.", []),
        (f"Social security number {digits(9)}.", []),
        (f"MRN: {digits(8)}", []),
        (f"Acct# {rng.choice('ABCDEFGH')}{digits(7)}", []),
        (f"Insurance ID: {fake.bothify('???#########').upper()}", []),
        (f"Member ID W{digits(9)}", []),
        (f"Policy number {digits(2)}-{digits(5)}-{digits(2)}.", []),
        (f"Device serial number SN-{digits(4)}-{digits(4)}.", []),
        (f"Driver's license # {rng.choice('ABCDS')}{digits(7)}.", []),
        (f"Lives at {street}, {city}, {state} {zip5}.", [("ADDRESS", street), ("LOCATION", city), ("ZIP", zip5)]),
        (f"Home: {lower_street}, Cambridge MA 02139-{digits(4)}.", [("ADDRESS", lower_street), ("LOCATION", "Cambridge")]),
        (f"Mail to PO Box {rng.randint(10, 9999)}, {city}, {state} {zip5}.", [("LOCATION", city), ("ZIP", zip5)]),
        (f"She moved here from {city} last year.", [("LOCATION", city)]),
        ("Lives in Springfield, Illinois with her son.", [("LOCATION", "Springfield")]),
        (f"Transferred from {last} Regional Medical Center.", [("ORGANIZATION", f"{last} Regional Medical Center")]),
        (f"Seen at {last2} Urgent Care last week.", [("ORGANIZATION", f"{last2} Urgent Care")]),
        (f"Followed by {city} Family Practice.", [("ORGANIZATION", f"{city} Family Practice")]),
        (f"Records requested from Mount {last} Hospital.", [("ORGANIZATION", f"Mount {last} Hospital")]),
        (f"Called {first} {last} with the results.", [("NAME", f"{first} {last}")]),
        (f"Sister-in-law {first2} {last2} provides care.", [("NAME", f"{first2} {last2}")]),
        (f"Nurse {first} {last} gave the vaccine.", [("NAME", f"{first} {last}")]),
        (f"{first2} {last2} was admitted overnight.", [("NAME", f"{first2} {last2}")]),
        (f"Follow up with {first} {last} in two weeks.", [("NAME", f"{first} {last}")]),
        (f"Contact number {(other_phone := fake.phone_number())}", [("PHONE", other_phone)]),
        (f"Born in {city} and works for {(company := fake.company())}.", [("LOCATION", city), ("ORGANIZATION", company)]),
        (
            f"lives at {lower_street} apt {rng.randint(1, 40)}, {city.lower()} {state.lower()} {zip5}",
            [("ADDRESS", lower_street), ("ZIP", zip5)],
        ),
        (f"Email {fake.user_name()}@{fake.free_email_domain()} for records.", []),
        (f"Portal: https://portal.{fake.domain_word()}.org/patients/{digits(6)}", []),
        (f"Login from {fake.ipv4_public()} and {fake.ipv6()}.", []),
        (f"See www.{fake.domain_word()}.com for instructions.", []),
    ]
    return [_values_from_text(t, v, fake) for t, v in templates]


def _values_from_text(text: str, values: list[tuple[str, str]], fake) -> tuple[str, list[tuple[str, str]]]:
    """Templates with [] list their PHI by shape: the generator re-finds the digits/addresses it inserted."""
    return text, values


def build(n_notes: int = 80, seed: int = 14) -> list[dict]:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    notes = []
    for i in range(n_notes):
        phi: list[dict[str, str]] = []
        lines = rng.sample(CLINICAL, 8)
        sentences = phi_sentences(fake, rng)
        chosen = rng.sample(sentences, 9)
        traps = rng.sample(TRAPS, 4)
        for text, values in chosen:
            lines.insert(rng.randint(0, len(lines)), text)
            phi += [{"type": t, "value": v} for t, v in _all_values(text, values)]
        for trap in traps:
            lines.insert(rng.randint(0, len(lines)), trap)
        notes.append({"id": f"own-{i:04d}", "text": "\n".join(lines) + "\n", "phi": phi, "traps": traps})
    return notes


def _all_values(text: str, values: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The listed values, plus the numbers, contacts and words of templates that list none."""
    import re

    if values and not any(v == "" for _, v in values):
        return values
    if values:  # an age in words
        word = re.search(r"(ninety(?:-\w+)?|one hundred)", text)
        return [("AGE", word.group(1))] if word else []
    found = []
    for kind, pattern in (
        ("EMAIL", r"[\w.+-]+@[\w.-]+\.\w+"),
        ("URL", r"https?://\S+?(?=\s|$)|www\.\S+?(?=\.?\s|\.$|$)"),
        ("IP", r"\b\d{1,3}(?:\.\d{1,3}){3}\b|[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){7}"),
        ("PHONE", r"\(\d{3}\) \d{3}-\d{4}|\d{3}\.\d{3}\.\d{4}|\+1 \d{3} \d{3} \d{4}"),
        ("SSN", r"\b\d{3}-\d{2}-\d{4}\b|(?<=number )\d{9}"),
        ("ID", r"(?<=MRN: )\d+|(?<=Acct# )\w+|(?<=ID: )\w+|(?<=ID )\w+|(?<=number )\d{2}-\d{5}-\d{2}|SN-\d{4}-\d{4}|(?<=# )\w+"),
        ("ADDRESS", r"PO Box \d+"),
        ("NAME", r"^[A-Z][a-z]+\d+ [A-Z][a-z]+\d+"),
    ):
        found += [(kind, m.rstrip(".")) for m in re.findall(pattern, text)]
    return found


def main() -> None:
    notes = build()
    (HERE / "notes.jsonl").write_text("".join(json.dumps(n) + "\n" for n in notes))
    print(f"{len(notes)} notes, {sum(len(n['phi']) for n in notes)} PHI values, {sum(len(n['traps']) for n in notes)} traps")


if __name__ == "__main__":
    main()
