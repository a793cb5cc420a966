#!/usr/bin/env python3
"""Validates SBOMs with the formats' own reference libraries.

    validate-sbom.py cyclonedx FILE   CycloneDX 1.6 JSON, strict JSON schema (cyclonedx-python-lib)
    validate-sbom.py spdx FILE        SPDX 2.3 JSON, parsed and validated (spdx-tools)

Prints the problems and exits 1 when the document is invalid, 0 when it is valid.
"""
import sys


def cyclonedx(path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    with open(path, encoding="utf-8") as f:
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(f.read())
    return [] if error is None else [str(error)[:2000]]


def spdx(path):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    document = parse_file(path)
    return [m.validation_message for m in validate_full_spdx_document(document, "SPDX-2.3")]


def main():
    kind, path = sys.argv[1], sys.argv[2]
    problems = {"cyclonedx": cyclonedx, "spdx": spdx}[kind](path)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
