#!/usr/bin/env python3
"""Writes sipshield's CycloneDX 1.5 SBOM (JSON): the project and each library it builds with.

    sbom.py --output FILE --version 0.1.0 --dependency dpdk=22.11.11 [--dependency ...]

The versions come from meson (what the build found); the Debian package versions and source
packages from dpkg-query, into each component's purl. SOURCE_DATE_EPOCH fixes the timestamp
(reproducible builds); the serial number is derived from the content and the timestamp.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import urllib.parse
import uuid

# name: (Debian package with its headers, SPDX license, what it is, needed at run time)
KNOWN = {
    "dpdk": ("libdpdk-dev", "BSD-3-Clause", "Data Plane Development Kit: ports, mbufs, EAL", True),
    "hyperscan": ("libhyperscan-dev", "BSD-3-Clause", "Intel Hyperscan: signature matching", True),
    "intel-ipsec-mb": ("libipsec-mb-dev", "BSD-3-Clause",
                       "Intel IPsec Multi-Buffer crypto: the probes' AES-CMAC cookies", True),
    "fmt": ("libfmt-dev", "MIT", "{fmt} formatting library", True),
    "nlohmann-json": ("nlohmann-json3-dev", "MIT", "JSON for Modern C++ (header-only)", True),
    "libpcap": ("libpcap0.8-dev", "BSD-3-Clause", "capture files", True),
    "catch2": ("catch2", "BSL-1.0", "unit test framework (header-only; tests only)", False),
}


def debian_package(name):
    """(version, source package, architecture) of an installed Debian package, or None."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}\t${source:Package}\t${Architecture}", name],
            capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    version, source, arch = out.split("\t")
    return version, source, arch


def distro():
    """"debian-12" from /etc/os-release, or None."""
    fields = {}
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                fields[key] = value.strip('"')
    except OSError:
        return None
    if "ID" in fields and "VERSION_ID" in fields:
        return f"{fields['ID']}-{fields['VERSION_ID']}"
    return None


def component(name, version, dist):
    package, license_id, description, runtime = KNOWN[name]
    c = {
        "type": "library",
        "bom-ref": name,
        "name": name,
        "version": version,
        "description": description,
        "licenses": [{"license": {"id": license_id}}],
        "scope": "required" if runtime else "excluded",
        "properties": [{"name": "sipshield:use", "value": "runtime" if runtime else "test"}],
    }
    deb = debian_package(package)
    if deb and dist:
        deb_version, source, arch = deb
        dist_id = dist.split("-")[0]
        version_quoted = urllib.parse.quote(deb_version, safe="")  # "+" and ":" as %2B, %3A
        c["purl"] = f"pkg:deb/{dist_id}/{package}@{version_quoted}?arch={arch}&distro={dist}"
        c["properties"].append({"name": "sipshield:debian-source-package", "value": source})
    else:
        c["purl"] = f"pkg:generic/{name}@{version}"
    return c


def build(project_version, dependencies, timestamp):
    dist = distro()
    components = [component(n, v, dist) for n, v in dependencies]
    bom = {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": "sipshield scripts/sbom.py",
                                      "version": project_version}]},
            "component": {
                "type": "application",
                "bom-ref": "sipshield",
                "name": "sipshield",
                "version": project_version,
                "description": "DPDK SIP flood filter daemon",
                "licenses": [{"license": {"id": "BSD-3-Clause"}}],
                "purl": f"pkg:generic/sipshield@{project_version}",
            },
        },
        "components": components,
        "dependencies": [
            {"ref": "sipshield", "dependsOn": [c["bom-ref"] for c in components]},
            *({"ref": c["bom-ref"]} for c in components),
        ],
    }
    text = json.dumps(bom, sort_keys=True)
    bom["serialNumber"] = uuid.uuid5(uuid.NAMESPACE_URL, "sipshield-sbom:" + text).urn
    return bom


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", required=True)
    ap.add_argument("--version", required=True, help="sipshield's version")
    ap.add_argument("--dependency", action="append", default=[], metavar="NAME=VERSION")
    args = ap.parse_args()

    dependencies = []
    for item in args.dependency:
        name, _, version = item.partition("=")
        if name not in KNOWN:
            sys.exit(f"sbom.py: unknown dependency {name!r} (known: {', '.join(KNOWN)})")
        if not version:
            sys.exit(f"sbom.py: no version for {name} (is its development package installed?)")
        dependencies.append((name, version))

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
            else datetime.datetime.now(datetime.timezone.utc))
    bom = build(args.version, dependencies, when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(bom, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
