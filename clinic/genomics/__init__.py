"""Genomics: ClinVar reference loading, a patient's VCF → GenomicVariant rows, and the reads over them.

parse: VCF files read, nothing stored; store: the ClinVar table and a patient's report and variants (one
ingestion run per file); read: the queries the panel, the API and the commands make.
"""

from clinic.genomics.parse import (
    MAX_ALLELES,
    ParsedVcf,
    assembly_from_header,
    file_sha256,
    genotype_zygosity,
    normalise_chrom,
    open_text,
    vcf_parse,
)
from clinic.genomics.read import patient_resolve, patient_variants, variant_panel
from clinic.genomics.store import ClinVarLoad, clinvar_import, vcf_import

__all__ = [
    "MAX_ALLELES",
    "ClinVarLoad",
    "ParsedVcf",
    "assembly_from_header",
    "clinvar_import",
    "file_sha256",
    "genotype_zygosity",
    "normalise_chrom",
    "open_text",
    "patient_resolve",
    "patient_variants",
    "variant_panel",
    "vcf_import",
    "vcf_parse",
]
