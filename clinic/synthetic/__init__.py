"""Synthetic FHIR R4 patients for demos and tests: chronic conditions with matching medications, lab
trajectories that respond to treatment, encounters with clinical notes, allergies, procedures, immunizations,
lab panels and imaging studies.

Everything comes from `random.Random` seeded per patient and ids are uuid5 of (seed, patient, n), so one seed
always writes the same bytes.
"""

from __future__ import annotations

from clinic.synthetic.generator import synthesize_patient, synthesize_patients
from clinic.synthetic.tables import HISTORY_END, HISTORY_START, LABS

__all__ = ["HISTORY_END", "HISTORY_START", "LABS", "synthesize_patient", "synthesize_patients"]
