"""Code tables for synthetic charts (SNOMED CT, LOINC, RxNorm, CVX, UCUM) and the value types a chart is built from."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

Resource = dict[str, Any]

NAMESPACE = uuid.UUID("5f0c6a1e-3c1b-4d7e-9a55-2b8f3f0e7c11")
TZ = dt.timezone(dt.timedelta(hours=-5))
HISTORY_START = dt.datetime(2019, 1, 7, tzinfo=TZ)
HISTORY_END = dt.datetime(2026, 10, 15, tzinfo=TZ)  # demo data stays in the past

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
UCUM = "http://unitsofmeasure.org"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
MRN_SYSTEM = "urn:carebase:mrn"


@dataclass(frozen=True)
class Lab:
    code: str
    display: str
    short: str  # how a note names it
    unit: str
    low: float
    high: float
    start: tuple[float, float]  # value range at diagnosis, before treatment
    treated: tuple[float, float]  # value range once treatment has worked (for eGFR: years later)
    decimals: int = 1


@dataclass(frozen=True)
class Med:
    code: str
    display: str
    short: str
    dosage: str


@dataclass(frozen=True)
class Chronic:
    key: str
    code: str
    display: str
    phrase: str  # how a clinician writes it
    meds: tuple[Med, ...]
    labs: tuple[str, ...]
    plan: str
    presenting: str  # what brought it to light, for the diagnosing visit
    review: str  # interval history at follow-up (pronoun first)


@dataclass
class Problem:
    chronic: Chronic
    onset: dt.datetime
    start_values: dict[str, float]
    treated_values: dict[str, float]
    meds: list[tuple[Med, dt.datetime, dt.datetime | None]] = field(default_factory=list)
    condition_ref: str = ""


@dataclass
class Visit:
    kind: str  # ambulatory, emergency, inpatient
    start: dt.datetime
    end: dt.datetime
    ref: str = ""
    labs: dict[str, float] = field(default_factory=dict)
    vitals: dict[str, float] = field(default_factory=dict)
    ed: tuple[str, str, str, str, str] | None = None


@dataclass
class PatientBuilder:
    seed: int
    index: int
    rng: random.Random
    entries: list[Resource] = field(default_factory=list)
    counter: int = 0

    def new_id(self, kind: str) -> str:
        self.counter += 1
        return str(uuid.uuid5(NAMESPACE, f"{self.seed}/{self.index}/{kind}/{self.counter}"))

    def add(self, resource: Resource, *, rid: str | None = None, shared: bool = False) -> str:
        rid = rid or self.new_id(resource["resourceType"])
        resource = {"resourceType": resource["resourceType"], "id": rid, **resource}
        rtype = resource["resourceType"]
        # Shared rows (organization, practitioners) are PUT so every bundle can carry them.
        request = {"method": "PUT", "url": f"{rtype}/{rid}"} if shared else {"method": "POST", "url": rtype}
        self.entries.append({"fullUrl": f"urn:uuid:{rid}", "resource": resource, "request": request})
        return f"urn:uuid:{rid}"


# fmt: off
GIVEN = {
    "female": ["Maria", "Linda", "Grace", "Aisha", "Elena", "Sofia", "Nora", "Hannah", "Priya", "Joan", "Ruth", "Mei"],
    "male": ["James", "Robert", "Daniel", "Omar", "Luis", "Samuel", "Henry", "Arjun", "Thomas", "Walter", "Kenji", "Paul"],
}
FAMILY = ["Garcia", "Nguyen", "Okafor", "Schmidt", "Rossi", "Patel", "Johnson", "Kowalski", "Haddad", "Lindqvist",
          "Moreau", "Tanaka", "Brennan", "Alvarez", "Fischer", "Mensah", "Costa", "Novak", "Whitaker", "Ibrahim"]
CITIES = [("Boston", "MA", "02118"), ("Worcester", "MA", "01608"), ("Springfield", "MA", "01103"), ("Lowell", "MA", "01852")]
STREETS = ["Maple Street", "Oak Avenue", "Harbor Road", "Elm Court", "Washington Street", "Chestnut Lane"]
PRACTITIONERS = [("Anne", "Whitfield"), ("Rahul", "Mehta"), ("Carmen", "Ortiz"), ("David", "Cho"), ("Fiona", "Burke")]

LABS = {
    "hba1c": Lab("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "HbA1c", "%", 4.0, 5.6, (8.2, 10.4), (6.6, 7.3)),
    "glucose": Lab("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "glucose", "mg/dL", 70, 99, (170, 240), (110, 135), 0),
    "ldl": Lab("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "LDL", "mg/dL", 0, 100,
               (155, 195), (78, 98), 0),
    "chol": Lab("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "total cholesterol", "mg/dL", 0, 200,
                (235, 280), (165, 192), 0),
    "egfr": Lab("33914-3", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma by "
                "Creatinine-based formula (MDRD)", "eGFR", "mL/min/{1.73_m2}", 60, 120, (52, 58), (41, 48), 0),
    "creat": Lab("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "creatinine", "mg/dL", 0.6, 1.3,
                 (1.3, 1.5), (1.6, 1.9), 2),
    "tsh": Lab("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "TSH", "m[IU]/L", 0.4, 4.0,
               (7.5, 13.0), (1.4, 3.1), 2),
    "phq9": Lab("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]", "PHQ-9", "{score}", 0, 4,
                (14, 20), (3, 7), 0),
}
PROGRESSIVE_LABS = {"egfr", "creat"}  # drift with the disease, whatever the treatment
PANELS = {  # lab panels reported as one DiagnosticReport
    "lipid": ("57698-3", "Lipid panel with direct LDL - Serum or Plasma", ("ldl", "chol")),
    "metabolic": ("24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma", ("glucose", "creat", "egfr")),
}

METFORMIN = Med("861007", "Metformin hydrochloride 500 MG Oral Tablet", "metformin 500 mg",
                "Take 1 tablet by mouth twice daily with meals")
LISINOPRIL = Med("314076", "Lisinopril 10 MG Oral Tablet", "lisinopril 10 mg", "Take 1 tablet by mouth once daily")
AMLODIPINE = Med("197361", "Amlodipine 5 MG Oral Tablet", "amlodipine 5 mg", "Take 1 tablet by mouth once daily")
CHRONIC = [
    Chronic("diabetes", "44054006", "Diabetes mellitus type 2 (disorder)", "type 2 diabetes mellitus", (METFORMIN,),
            ("hba1c", "glucose"),
            "Continue metformin, reinforce diet and exercise, recheck HbA1c in 3 months. Annual retinal and foot exams.",
            "Reports polyuria, polydipsia and fatigue for several months.",
            "denies polyuria, polydipsia or blurred vision. No hypoglycemic episodes."),
    Chronic("hypertension", "38341003", "Hypertensive disorder, systemic arterial (disorder)", "essential hypertension",
            (LISINOPRIL,), (), "Home blood pressure log, low-sodium diet, continue antihypertensive.",
            "Blood pressure elevated at the last three visits; reports occasional morning headaches.",
            "denies headaches, chest pain or visual changes. Home readings mostly in the 130s."),
    Chronic("hyperlipidemia", "55822004", "Hyperlipidemia (disorder)", "hyperlipidemia",
            (Med("617310", "Atorvastatin 20 MG Oral Tablet", "atorvastatin 20 mg", "Take 1 tablet by mouth at bedtime"),),
            ("ldl", "chol"), "Continue atorvastatin, repeat lipid panel in 6 months.",
            "Screening lipid panel elevated; asymptomatic.", "denies muscle aches on the statin."),
    Chronic("ckd", "433144002", "Chronic kidney disease stage 3 (disorder)", "chronic kidney disease stage 3", (),
            ("egfr", "creat"),
            "Avoid NSAIDs, renally dose medications, monitor eGFR and creatinine; nephrology referral if eGFR below 30.",
            "Reduced eGFR on routine chemistry, confirmed on repeat after three months.",
            "denies edema, foamy urine or decreased urine output."),
    Chronic("asthma", "195967001", "Asthma (disorder)", "asthma",
            (Med("745679", "200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "albuterol inhaler",
                 "Inhale 2 puffs every 4 to 6 hours as needed for wheezing"),),
            (), "Continue albuterol as needed, review inhaler technique, asthma action plan updated.",
            "Reports episodic wheezing and chest tightness with exercise and cold air.",
            "uses the rescue inhaler about twice a week; denies nocturnal awakenings."),
    Chronic("copd", "13645005", "Chronic obstructive lung disease (disorder)", "COPD",
            (Med("1552344", "Tiotropium 0.0025 MG/ACTUAT Metered Dose Inhaler", "tiotropium inhaler",
                 "Inhale 2 puffs once daily"),),
            (), "Continue tiotropium, smoking cessation counselling, pulmonary rehabilitation referral.",
            "Reports progressive exertional dyspnea and morning cough; 30 pack-year smoking history.",
            "reports stable exertional dyspnea; denies increased sputum or fever."),
    Chronic("afib", "49436004", "Atrial fibrillation (disorder)", "atrial fibrillation",
            (Med("1364445", "Apixaban 5 MG Oral Tablet", "apixaban 5 mg", "Take 1 tablet by mouth twice daily"),),
            (), "Continue apixaban for stroke prevention (CHA2DS2-VASc reviewed), rate control adequate.",
            "Reports intermittent palpitations; ECG shows atrial fibrillation with a ventricular rate of 110.",
            "denies palpitations, bleeding or easy bruising on apixaban."),
    Chronic("hypothyroidism", "40930008", "Hypothyroidism (disorder)", "hypothyroidism",
            (Med("966222", "Levothyroxine Sodium 0.05 MG Oral Tablet", "levothyroxine 50 mcg",
                 "Take 1 tablet by mouth every morning on an empty stomach"),),
            ("tsh",), "Continue levothyroxine, recheck TSH in 6 to 8 weeks after any dose change.",
            "Reports fatigue, cold intolerance and constipation.", "reports improved energy; denies cold intolerance."),
    Chronic("depression", "370143000", "Major depressive disorder (disorder)", "major depressive disorder",
            (Med("312940", "Sertraline 50 MG Oral Tablet", "sertraline 50 mg", "Take 1 tablet by mouth once daily"),),
            ("phq9",), "Continue sertraline, follow up with behavioral health; safety plan reviewed.",
            "Reports low mood, poor sleep and loss of interest for two months; denies suicidal ideation.",
            "reports improved mood and sleep; denies suicidal ideation."),
    Chronic("osteoarthritis", "239873007", "Osteoarthritis of knee (disorder)", "osteoarthritis of the knee",
            (Med("313782", "Acetaminophen 325 MG Oral Tablet", "acetaminophen 650 mg",
                 "Take 2 tablets by mouth every 6 hours as needed for pain"),),
            (), "Acetaminophen as needed, physical therapy, weight loss encouraged.",
            "Reports right knee pain worse with stairs and morning stiffness under 30 minutes.",
            "reports knee pain controlled with acetaminophen; denies swelling or locking."),
    Chronic("gerd", "235595009", "Gastroesophageal reflux disease (disorder)", "gastroesophageal reflux disease",
            (Med("198053", "Omeprazole 20 MG Delayed Release Oral Capsule", "omeprazole 20 mg",
                 "Take 1 capsule by mouth daily before breakfast"),),
            (), "Continue omeprazole, avoid late meals.",
            "Reports burning retrosternal discomfort after meals; denies dysphagia or weight loss.",
            "reports rare heartburn; denies dysphagia or melena."),
]
PREVALENCE = {  # relative weights among adults with chronic disease
    "hypertension": 4.0, "hyperlipidemia": 3.5, "diabetes": 3.0, "depression": 2.0, "gerd": 2.0, "osteoarthritis": 2.0,
    "ckd": 1.5, "hypothyroidism": 1.5, "asthma": 1.2, "copd": 1.2, "afib": 1.0,
}
ALLERGIES = [  # (code, substance, category, manifestation code, manifestation, criticality)
    ("764146007", "Penicillin (substance)", "medication", "126485001", "Urticaria (disorder)", "high"),
    ("387406002", "Sulfonamide (substance)", "medication", "271807003", "Eruption of skin (disorder)", "low"),
    ("762952008", "Peanut (substance)", "food", "39579001", "Anaphylaxis (disorder)", "high"),
    ("111088007", "Latex (substance)", "environment", "41291007", "Angioedema (disorder)", "high"),
    ("44027008", "Seafood (substance)", "food", "126485001", "Urticaria (disorder)", "low"),
]
FAMILY_HISTORY = [
    "Mother had breast cancer at 58.", "Father had a myocardial infarction at 62.", "Brother has type 2 diabetes.",
    "Mother had colon cancer; father had a stroke.", "No family history of premature coronary disease.",
]
ED_VISITS = [  # (reason code, reason, complaint, HPI, assessment)
    ("29857009", "Chest pain (finding)", "Chest pain",
     "Reports two hours of left-sided chest pressure at rest, non-radiating. Denies shortness of breath, diaphoresis or syncope.",
     "Chest pain, rule out acute coronary syndrome. ECG without ischemic changes; troponin negative twice. Likely musculoskeletal."),
    ("10509002", "Acute bronchitis (disorder)", "Cough and fever",
     "Five days of productive cough and low-grade fever. Denies chest pain or hemoptysis.",
     "Acute bronchitis, possible early pneumonia; chest X-ray without consolidation. Rule out influenza, swab pending."),
    ("44465007", "Sprain of ankle (disorder)", "Right ankle pain",
     "Twisted the right ankle stepping off a curb. Able to bear weight. Denies numbness.",
     "Right ankle sprain; Ottawa rules negative, no fracture suspected."),
    ("68566005", "Urinary tract infectious disease (disorder)", "Dysuria",
     "Three days of dysuria and frequency. Denies flank pain, fever or hematuria.",
     "Uncomplicated urinary tract infection; pyelonephritis unlikely."),
]
IMMUNIZATIONS = {
    "flu": ("140", "Influenza, seasonal, injectable, preservative free"),
    "covid": ("208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose"),
    "tdap": ("115", "Tdap"),
    "pcv": ("133", "Pneumococcal conjugate PCV 13"),
}
ENCOUNTER_TYPES = {
    "ambulatory": ("AMB", "ambulatory", "390906007", "Follow-up encounter (procedure)"),
    "emergency": ("EMER", "emergency", "50849002", "Emergency room admission (procedure)"),
    "inpatient": ("IMP", "inpatient encounter", "32485007", "Hospital admission (procedure)"),
}
PNEUMONIA = ("385093006", "Community acquired pneumonia (disorder)")
NOTE_TYPES = {
    "progress": ("11506-3", "Progress note"),
    "hp": ("34117-2", "History and physical note"),
    "discharge": ("18842-5", "Discharge summary"),
}
# fmt: on


def concept(system: str, code: str, display: str) -> Resource:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def when(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")
