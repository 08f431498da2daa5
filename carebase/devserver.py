"""`make run`: migrate, load a demo cohort when the database is empty, start the Procfile's web and worker.

This process holds the embedded PostgreSQL open for the whole session, so the web and worker processes join
it; Ctrl-C (or SIGTERM) stops both children, then the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "carebase-demo"
# (username, roles, what they see): the clinician is on the care team of the first DEMO_CARE_TEAM patients.
DEMO_USERS = [
    ("clinician", "clinician", "clinician: the care team of the first demo patients, break-the-glass for the rest"),
    ("steward", "steward", "data steward: admin at /admin/, audit review at /audit/"),
    ("researcher", "researcher", "researcher: cohort counts and de-identified datasets"),
]
DEMO_PATIENTS = int(os.environ.get("DEMO_PATIENTS", "25"))
DEMO_CARE_TEAM = 15


def main() -> int:
    # `make run` is development: DEBUG on (public development secrets allowed) unless the environment says otherwise.
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carebase.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    _seed_demo(call_command)
    _ensure_users()
    children = [_spawn(name, command) for name, command in _procfile()]
    port = os.environ.get("PORT", "8000")
    print(f"\nCarebase is running on http://127.0.0.1:{port}/  (Ctrl-C stops everything)")
    for username, _, what in DEMO_USERS:
        print(f"  log in as {username} / {DEMO_PASSWORD}  ({what})")
    print(f"  REST API docs: http://127.0.0.1:{port}/api/v1/docs\n", flush=True)
    return _wait(children)


def _seed_demo(call_command: object) -> None:
    from clinic.models import ClinVarVariant, Patient

    if Patient.objects.exists():
        return
    print(f"Empty database: generating and importing a demo cohort of {DEMO_PATIENTS} patients…", flush=True)
    # synthesize takes its pathogenic variants from the ClinVar table; without it the VCFs hold background only
    clinvar = BASE_DIR.parent / "shared/data/vcf/clinvar_cancer_genes_GRCh38.vcf.gz"
    if clinvar.is_file() and not ClinVarVariant.objects.exists():
        call_command("import_clinvar", str(clinvar))  # type: ignore[operator]
    with tempfile.TemporaryDirectory() as out:
        call_command("synthesize", patients=DEMO_PATIENTS, seed=42, out=out)  # type: ignore[operator]
        call_command("import_fhir", out, no_progress=True)  # type: ignore[operator]
        for vcf in sorted(Path(out, "genomics").glob("*.vcf")):
            call_command("import_vcf", str(vcf), patient=vcf.stem)  # type: ignore[operator]
    _seed_demo_images(call_command)


def _seed_demo_images(call_command: object) -> None:
    """Real DICOM series for the first demo patient, so the viewer has pixels to show (the shared MR series where
    they are beside the checkout, and the CT and MR test files inside the pydicom wheel)."""
    from django.core.management.base import CommandError
    from pydicom.data import get_testdata_file

    from clinic.models import Patient

    patient = Patient.objects.order_by("fhir_id").first()
    shared = BASE_DIR.parent / "shared/data/dicom/dcm_qa_nih/20180918Si"
    paths = [str(p) for p in sorted(shared.glob("mr_*/*.dcm"))] if shared.is_dir() else []
    paths += [str(get_testdata_file(name)) for name in ("CT_small.dcm", "MR_small.dcm")]
    if patient is None:
        return
    try:
        call_command("import_dicom", *paths, patient=patient.fhir_id)  # type: ignore[operator]
    except CommandError as error:  # a demo without images is still a demo
        print(f"demo images not imported: {error}", flush=True)


def _ensure_users() -> None:
    """The demo users with their roles; the clinician on the care team of the first demo patients."""
    from django.contrib.auth import get_user_model

    from clinic.models import CareTeamMember, Patient
    from clinic.services import care_team_grant, user_save

    users = get_user_model()
    for username, roles, _ in DEMO_USERS:
        new = not users.objects.filter(username=username).exists()
        user_save(username=username, roles=roles.split(","), password=DEMO_PASSWORD if new else None)
    clinician = users.objects.get(username="clinician")
    if not CareTeamMember.objects.filter(user=clinician).exists():
        for patient in Patient.objects.order_by("fhir_id")[:DEMO_CARE_TEAM]:
            care_team_grant(user=clinician, patient=patient, role="attending")


def _procfile() -> list[tuple[str, str]]:
    lines = (BASE_DIR / "Procfile").read_text().splitlines()
    return [tuple(part.strip() for part in line.split(":", 1)) for line in lines if ":" in line]  # type: ignore[misc]


def _spawn(name: str, command: str) -> subprocess.Popen[bytes]:
    print(f"starting {name}: {command}", flush=True)
    return subprocess.Popen(["bash", "-c", "exec " + command], cwd=BASE_DIR, start_new_session=True)


def _wait(children: list[subprocess.Popen[bytes]]) -> int:
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.5)
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
    print("stopped web and worker; stopping the database", flush=True)
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
