#!/usr/bin/env python3
"""The build's SBOM is valid CycloneDX 1.5 (official schema, offline), names the versions that
are installed, and the validator rejects a broken SBOM.

    sbom_test.py --sbom BUILD/drivers-config/sipshield.cdx.json --schemas test/data/cyclonedx
                 [--version PROJECT_VERSION]

Pointed at an invalid SBOM it fails, naming the errors.
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import urllib.parse
import warnings

import jsonschema

# SBOM component: pkg-config module (the version meson found has to be this one).
PKG_CONFIG = {
    "dpdk": "libdpdk",
    "hyperscan": "libhs",
    "fmt": "fmt",
    "nlohmann-json": "nlohmann_json",
    "libpcap": "libpcap",
    "catch2": "catch2",
}
EXPECTED = set(PKG_CONFIG) | {"intel-ipsec-mb"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def validator(schema_dir):
    """A Draft 7 validator for bom-1.5 whose $refs resolve to the local files only."""
    bom = load(os.path.join(schema_dir, "bom-1.5.SNAPSHOT.schema.json"))
    store = {}
    for name in os.listdir(schema_dir):
        if name.endswith(".schema.json"):
            schema = load(os.path.join(schema_dir, name))
            store[schema["$id"]] = schema
            store[urllib.parse.urljoin(bom["$id"], name)] = schema  # how bom-1.5 names it

    def offline(uri):
        raise AssertionError(f"schema {uri} is not in {schema_dir}: no network here")

    with warnings.catch_warnings():  # deprecated in 4.18 for `referencing`; bookworm has 4.10
        warnings.simplefilter("ignore", DeprecationWarning)
        resolver = jsonschema.RefResolver(bom["$id"], bom, store=store,
                                          handlers={"http": offline, "https": offline})
    jsonschema.Draft7Validator.check_schema(bom)
    return jsonschema.Draft7Validator(bom, resolver=resolver,
                                      format_checker=jsonschema.FormatChecker())


def errors_of(v, sbom):
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in v.iter_errors(sbom)]


def command(*args):
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


def check_versions(sbom, project_version):
    problems = []
    if project_version and sbom["metadata"]["component"]["version"] != project_version:
        problems.append(f"metadata.component.version is "
                        f"{sbom['metadata']['component']['version']}, meson says {project_version}")
    components = {c["name"]: c for c in sbom["components"]}
    if set(components) != EXPECTED:
        problems.append(f"components {sorted(components)}, expected {sorted(EXPECTED)}")
    for name, module in PKG_CONFIG.items():
        if name in components:
            installed = command("pkg-config", "--modversion", module)
            if components[name]["version"] != installed:
                problems.append(f"{name}: SBOM says {components[name]['version']}, "
                                f"pkg-config --modversion {module} says {installed}")
    for c in components.values():
        purl = c.get("purl", "")
        if purl.startswith("pkg:deb/"):  # pkg:deb/debian/NAME@VERSION?arch=...
            package, _, rest = purl.split("/", 2)[2].partition("@")
            installed = command("dpkg-query", "-W", "-f", "${Version}", package)
            if urllib.parse.unquote(rest.split("?")[0]) != installed:
                problems.append(f"{c['name']}: purl {purl}, but {package} {installed} installed")
        elif os.path.exists("/usr/bin/dpkg-query"):
            problems.append(f"{c['name']}: no Debian purl ({purl}) on a Debian system")
        if not c.get("licenses"):
            problems.append(f"{c['name']}: no license")
    if components.get("catch2", {}).get("scope") != "excluded":
        problems.append("catch2 is not marked scope \"excluded\" (test only)")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sbom", required=True)
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--version", help="the project version the SBOM must name")
    args = ap.parse_args()

    v = validator(args.schemas)
    sbom = load(args.sbom)
    errors = errors_of(v, sbom)
    if errors:
        print(f"FAIL: {args.sbom} is not valid CycloneDX 1.5:", *errors, sep="\n  ")
        return 1
    print(f"ok: {args.sbom} is valid CycloneDX 1.5 ({len(sbom['components'])} components)")

    # The validator must catch real mistakes, not pass everything.
    for what, mutate in [
        ("a component without a name", lambda b: b["components"][0].pop("name")),
        ("an unknown SPDX license id",
         lambda b: b["components"][0]["licenses"][0]["license"].update(id="BSD-3")),
        ("a malformed serial number", lambda b: b.update(serialNumber="12345")),
    ]:
        broken = copy.deepcopy(sbom)
        mutate(broken)
        if not errors_of(v, broken):
            print(f"FAIL: the validator accepted an SBOM with {what}")
            return 1
        print(f"ok: an SBOM with {what} is rejected")

    problems = check_versions(sbom, args.version)
    if problems:
        print("FAIL: the SBOM does not match what is installed:", *problems, sep="\n  ")
        return 1
    print("ok: every version in the SBOM is the installed one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
