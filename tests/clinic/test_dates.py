"""Ages: one rule for 29 February, in the banner, cohort criteria and dataset curation alike."""

from __future__ import annotations

import datetime as dt

import pytest

from clinic import models as m
from clinic.curation import dataset_cohort
from clinic.dates import age_on, years_before

LEAP_BIRTH = dt.date(2000, 2, 29)


@pytest.mark.parametrize(
    ("on", "age"),
    [("2023-02-28", 22), ("2023-03-01", 23), ("2024-02-28", 23), ("2024-02-29", 24), ("2024-03-01", 24), ("2000-02-29", 0)],
)
def test_it_counts_a_29_february_birthday_on_1_march_in_other_years(on: str, age: int):
    assert age_on(birth=LEAP_BIRTH, on=dt.date.fromisoformat(on)) == age


def test_it_goes_back_from_29_february_to_28_february_in_a_year_without_one():
    assert years_before(day=dt.date(2024, 2, 29), years=1) == dt.date(2023, 2, 28)
    assert years_before(day=dt.date(2024, 2, 29), years=4) == dt.date(2020, 2, 29)
    assert years_before(day=dt.date(2023, 3, 1), years=23) == dt.date(2000, 3, 1)


def test_it_bounds_birth_dates_exactly_as_it_counts_ages():
    """born <= years_before(day, n)  <=>  age_on(born, day) >= n, for every day and birthday around 29 February."""
    days = [dt.date(2023, 1, 1) + dt.timedelta(days=n) for n in range(0, 800, 1)]
    births = [dt.date(year, month, day) for year in (1999, 2000, 2001, 2004) for month, day in ((2, 28), (3, 1))]
    births += [dt.date(2000, 2, 29), dt.date(2004, 2, 29)]
    for day in days:
        for birth in births:
            for years in (18, 19, 20, 23, 24):
                assert (birth <= years_before(day=day, years=years)) == (age_on(birth=birth, on=day) >= years), (
                    day,
                    birth,
                    years,
                )


def test_it_gives_a_patient_born_on_29_february_the_same_age(db):
    patient = m.Patient.objects.create(fhir_id="leap-1", birth_date=LEAP_BIRTH)
    assert patient.age(on=dt.date(2023, 2, 28)) == 22 and patient.age(on=dt.date(2023, 3, 1)) == 23


def test_it_curates_by_age_on_29_february(db, monkeypatch):
    """dataset_cohort replaced the year of 29 February with one that has no such day, and crashed."""
    monkeypatch.setattr("clinic.curation.define.timezone.localdate", lambda: dt.date(2024, 2, 29))
    m.Patient.objects.create(fhir_id="born-leap-24", birth_date=LEAP_BIRTH)
    m.Patient.objects.create(fhir_id="turned-23", birth_date=dt.date(2001, 2, 28))
    m.Patient.objects.create(fhir_id="still-22", birth_date=dt.date(2001, 3, 1))
    assert list(dataset_cohort(criteria={"age_min": 23}).values_list("fhir_id", flat=True)) == ["born-leap-24", "turned-23"]
    assert list(dataset_cohort(criteria={"age_max": 22}).values_list("fhir_id", flat=True)) == ["still-22"]
