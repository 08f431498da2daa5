"""The starter rules a clinician would recognise, live from the start, and the steward's permissions on rules.

Codes are written out (no terminology server here): SNOMED CT for conditions and allergies, LOINC for labs and
imaging, RxNorm for drugs (ingredients and the products the demo and Synthea data use), CVX for vaccines; the
synonyms catch the same concepts coded elsewhere. They are data: a steward edits them in the admin.
"""

from django.db import migrations

DIABETES = {
    "codes": ["44054006", "73211009", "46635009", "190330002", "368581000119106", "E10*", "E11*", "E13*"],
    "synonyms": ["diabetes mellitus", "type 2 diabetes", "type 1 diabetes"],
}
HBA1C = {"codes": ["4548-4", "17856-6", "4549-2", "59261-8"], "synonyms": ["HbA1c", "hemoglobin A1c"]}
CKD = {
    "codes": ["709044004", "431855005", "431856006", "433144002", "431857002", "433146000", "46177005", "N18*"],
    "synonyms": ["chronic kidney disease", "end-stage renal disease", "end stage renal disease"],
}
NSAIDS = {
    # ingredients (ibuprofen, naproxen, diclofenac, celecoxib, meloxicam, indomethacin, ketorolac) and products
    "codes": ["5640", "7258", "3355", "140587", "41493", "5781", "35827", "849574", "310965", "198405", "197806", "197807"],
    "synonyms": ["ibuprofen", "naproxen", "diclofenac", "celecoxib", "meloxicam", "indomethacin", "ketorolac",
                 "ketoprofen", "etodolac", "nabumetone", "piroxicam"],
}  # fmt: skip
ALLERGY_PAIRS = [
    {
        "allergen": {"codes": ["764146007", "91936005", "294505008", "373270004"], "synonyms": ["penicillin"]},
        "ingredients": ["penicillin", "amoxicillin", "ampicillin", "piperacillin", "nafcillin", "oxacillin", "dicloxacillin",
                        "flucloxacillin"],
    },  # fmt: skip
    {
        "allergen": {"codes": ["387406002", "91939003"], "synonyms": ["sulfonamide", "sulfa"]},
        "ingredients": ["sulfamethoxazole", "sulfadiazine", "sulfasalazine", "sulfisoxazole"],
    },
]
BREAST_SCREENING = {
    "codes": ["24623002", "71651007", "241615005", "24606-6", "24604-1", "36625-2"],
    "synonyms": ["mammography", "mammogram", "breast MRI", "MRI of breast", "MR breast"],
}
COLONOSCOPY = {"codes": ["73761001", "18746-8"], "synonyms": ["colonoscopy"]}
INFLUENZA = {
    "codes": ["88", "111", "135", "140", "141", "144", "149", "150", "153", "155", "158", "161", "166", "168", "171",
              "185", "186", "197", "205"],
    "synonyms": ["influenza"],
}  # fmt: skip
PNEUMOCOCCAL = {"codes": ["33", "100", "109", "133", "152", "215", "216"], "synonyms": ["pneumococcal"]}
TETANUS = {"codes": ["09", "113", "115", "138", "139", "196"], "synonyms": ["Tdap", "tetanus"]}

RULES = [
    {
        "key": "diabetes-hba1c-overdue",
        "name": "Diabetes: HbA1c overdue",
        "kind": "care_gap",
        "indicator": "warning",
        "parameters": {"condition": DIABETES, "expect": HBA1C, "expect_in": ["observation"], "window_days": 183},
        "summary": "HbA1c overdue: none in the last {window} ({last})",
        "detail": "{condition} calls for an HbA1c at least every 6 months, every 3 months when above target or after "
        "a change of treatment.",
        "suggestion": "Order an HbA1c",
        "knowledge_doc_id": "MPlusHealthTopics_0000001_Sec1.txt",
        "reference": "ADA Standards of Care in Diabetes 2025, section 6: A1C at least twice a year",
        "reference_url": "https://diabetesjournals.org/care/article/48/Supplement_1/S128/157561",
    },
    {
        "key": "diabetes-hba1c-above-target",
        "name": "Diabetes: HbA1c above target",
        "kind": "lab_threshold",
        "indicator": "warning",
        "parameters": {"condition": DIABETES, "lab": HBA1C, "above": 8.0, "unit": "%"},
        "summary": "HbA1c {value} {unit} on {date}: above the {threshold} % target",
        "detail": "The latest HbA1c of this patient with {condition} is above {threshold} %. Review treatment, "
        "adherence and hypoglycaemia risk; recheck in 3 months.",
        "suggestion": "Review diabetes treatment",
        "knowledge_doc_id": "MPlusHealthTopics_0000001_Sec1.txt",
        "reference": "ADA Standards of Care in Diabetes 2025, section 6: glycemic goals (HEDIS: HbA1c under 8 %)",
        "reference_url": "https://diabetesjournals.org/care/article/48/Supplement_1/S128/157561",
    },
    {
        "key": "ckd-nsaid",
        "name": "CKD and an NSAID",
        "kind": "condition_medication",
        "indicator": "warning",
        "parameters": {"condition": CKD, "medication": NSAIDS},
        "summary": "{drug} in {condition}: NSAIDs can worsen kidney function",
        "detail": "NSAIDs reduce renal blood flow and can bring on acute kidney injury and hyperkalaemia in chronic "
        "kidney disease. Prefer acetaminophen or topical treatment for pain.",
        "suggestion": "Use acetaminophen instead",
        "knowledge_doc_id": "ADAM_0002904_Sec1.txt",
        "reference": "KDIGO 2024 CKD guideline: avoid prolonged or recurrent NSAIDs",
        "reference_url": "https://kdigo.org/guidelines/ckd-evaluation-and-management/",
    },
    {
        "key": "allergy-drug-ingredient",
        "name": "Allergy to an ingredient of a drug",
        "kind": "allergy_medication",
        "indicator": "critical",
        "parameters": {"pairs": ALLERGY_PAIRS, "match_allergen_name": True},
        "summary": "{drug} contains {ingredient}: the patient is allergic to {allergen}",
        "detail": "The chart records an allergy to {allergen}; {drug} contains {ingredient}, of the same class. "
        "Choose another drug, or confirm tolerance before giving it.",
        "suggestion": "",
        "knowledge_doc_id": "ADAM_0001284_Sec2.txt",
        "reference": "AAAAI/ACAAI drug allergy practice parameter, 2022",
        "reference_url": "https://www.jacionline.org/article/S0091-6749(22)01186-1/fulltext",
    },
    {
        "key": "brca-breast-screening",
        "name": "BRCA1/2 pathogenic variant without breast screening",
        "kind": "variant_screening",
        "indicator": "warning",
        "parameters": {
            "genes": ["BRCA1", "BRCA2"], "significance": ["pathogenic", "likely pathogenic"], "screening": BREAST_SCREENING,
            "screening_in": ["procedure", "imaging", "report"], "window_days": 365, "sex": "female", "min_age": 25,
        },  # fmt: skip
        "summary": "{gene} {significance} variant: no breast MRI or mammogram in {window}",
        "detail": "Carriers of a pathogenic BRCA1 or BRCA2 variant are offered yearly breast MRI from 25 and "
        "mammography from 30, and a discussion of risk-reducing surgery. Variant: {variant}.",
        "suggestion": "Order breast MRI or mammography",
        "knowledge_doc_id": "GARD_0000841_Sec1.txt",
        "reference": "NCCN Genetic/Familial High-Risk Assessment: Breast, Ovarian and Pancreatic",
        "reference_url": "https://www.nccn.org/guidelines/guidelines-detail?id=1503",
    },
    {
        "key": "lynch-colonoscopy",
        "name": "Lynch syndrome variant without colonoscopy",
        "kind": "variant_screening",
        "indicator": "warning",
        "parameters": {
            "genes": ["MLH1", "MSH2", "MSH6", "PMS2", "EPCAM"], "significance": ["pathogenic", "likely pathogenic"],
            "screening": COLONOSCOPY, "screening_in": ["procedure", "imaging", "report"], "window_days": 730, "min_age": 25,
        },  # fmt: skip
        "summary": "{gene} {significance} variant (Lynch syndrome): no colonoscopy in {window}",
        "detail": "Lynch syndrome carriers are offered colonoscopy every 1 to 2 years from 20 to 25. Variant: {variant}.",
        "suggestion": "Refer for colonoscopy",
        "knowledge_doc_id": "GHR_0000611_Sec1.txt",
        "reference": "NCCN Genetic/Familial High-Risk Assessment: Colorectal",
        "reference_url": "https://www.nccn.org/guidelines/guidelines-detail?id=1436",
    },
    {
        "key": "creatinine-rising",
        "name": "Rising creatinine",
        "kind": "lab_trend",
        "indicator": "warning",
        "parameters": {
            "lab": {"codes": ["2160-0", "38483-4"]}, "direction": "rising", "unit": "mg/dL", "window_days": 730,
            "min_change": 0.3, "min_ratio": 1.5, "min_points": 2,
        },  # fmt: skip
        "summary": "Creatinine rising: {first_value} to {value} {unit} ({change}) since {first_date}",
        "detail": "A rise of 0.3 mg/dL or 50 % over the lowest value of the last 2 years points to falling kidney "
        "function: look for nephrotoxic drugs, volume depletion and obstruction; repeat, and stage by eGFR.",
        "suggestion": "Repeat creatinine and eGFR",
        "knowledge_doc_id": "MPlusHealthTopics_0000245_Sec1.txt",
        "reference": "KDIGO clinical practice guidelines for AKI (2012) and CKD (2024)",
        "reference_url": "https://kdigo.org/guidelines/",
    },
    {
        "key": "influenza-vaccine-due",
        "name": "Influenza vaccine due",
        "kind": "immunization_due",
        "indicator": "info",
        "parameters": {"vaccine": INFLUENZA, "window_days": 365, "min_age": 0.5},
        "summary": "Influenza vaccine due: none in the last {window} ({last})",
        "detail": "Everyone from 6 months of age is offered the seasonal influenza vaccine every year.",
        "suggestion": "Give the seasonal influenza vaccine",
        "knowledge_doc_id": "MPlusHealthTopics_0000370_Sec1.txt",
        "reference": "CDC ACIP: annual influenza vaccination from 6 months of age",
        "reference_url": "https://www.cdc.gov/acip-recs/hcp/vaccine-specific/flu.html",
    },
    {
        "key": "pneumococcal-vaccine-due",
        "name": "Pneumococcal vaccine due at 65",
        "kind": "immunization_due",
        "indicator": "info",
        "parameters": {"vaccine": PNEUMOCOCCAL, "window_days": None, "min_age": 65},
        "summary": "Pneumococcal vaccine due: aged 65 or over, {last}",
        "detail": "Adults of 65 and over are offered a pneumococcal conjugate vaccine (PCV20 or PCV21, or PCV15 "
        "followed by PPSV23) once.",
        "suggestion": "Give a pneumococcal conjugate vaccine",
        "knowledge_doc_id": "MPlusHealthTopics_0000721_Sec1.txt",
        "reference": "CDC ACIP: pneumococcal vaccination of adults 65 and over",
        "reference_url": "https://www.cdc.gov/pneumococcal/hcp/vaccine-recommendations/",
    },
    {
        "key": "tetanus-booster-due",
        "name": "Tetanus booster (Td/Tdap) due",
        "kind": "immunization_due",
        "indicator": "info",
        "parameters": {"vaccine": TETANUS, "window_days": 3650, "min_age": 19},
        "summary": "Td/Tdap booster due: none in the last {window} ({last})",
        "detail": "Adults are offered a Td or Tdap booster every 10 years.",
        "suggestion": "Give a Td or Tdap booster",
        "knowledge_doc_id": "MPlusHealthTopics_0000885_Sec1.txt",
        "reference": "CDC ACIP: Td or Tdap every 10 years for adults",
        "reference_url": "https://www.cdc.gov/pertussis/hcp/vaccine-recommendations/",
    },
]
STEWARD = ["view_rule", "add_rule", "change_rule", "try_rule"]


def starter_rules(apps, schema_editor):
    Rule = apps.get_model("cds", "Rule")
    for rule in RULES:
        Rule.objects.update_or_create(key=rule["key"], defaults={**rule, "enabled": True})


def remove_starter_rules(apps, schema_editor):
    apps.get_model("cds", "Rule").objects.filter(key__in=[r["key"] for r in RULES], firings__isnull=True).delete()


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    config = apps.get_app_config("cds")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="steward")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="cds", codename__in=STEWARD))


class Migration(migrations.Migration):
    dependencies = [("cds", "0001_initial"), ("clinic", "0004_roles")]

    operations = [
        migrations.RunPython(starter_rules, remove_starter_rules),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
