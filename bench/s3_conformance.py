#!/usr/bin/env python3
"""S3 compatibility: the public conformance suite ceph/s3-tests run against Sluice's S3
API and against moto_server in one run, as the share of its tests that pass on each.

  bench/s3_conformance.py --s3-tests PATH [--python PY] [-k EXPR] [--timeout 60]

PATH is a checkout of https://github.com/ceph/s3-tests (not part of Sluice: bring it
yourself); PY a Python with its requirements installed (boto3, munch, gevent, isodate,
pytz, httplib2, lxml, pytest, pytest-timeout, pyyaml). The suite's file
`s3tests/functional/test_s3.py` runs on each server with a config written here. On Sluice
each of the suite's principals (main, alt, tenant, the IAM ones) is a user of its own,
named in the data folder's sluice.yml with its key pair, canonical ID and address (none
is the administrator, who owns the default bucket: the suite expects main to start with
no buckets); moto_server takes any keys as its one account.
Prints passed / failed / errored / skipped per server and the share passed, and, for
Sluice, the most common failure reasons; results go to bench/out/s3_conformance-SERVERS.json
(with every test's outcome on each server; `-sluice`, `-moto` or
`-sluice-moto` after the name, for what ran).
"""
import argparse
import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

from servers import ROOT, build_sluice, free_port, sluice_environment, start_sluice, stop_sluice, wait_port

OUT = os.path.join(ROOT, "bench", "out")
ACCESS, SECRET = "AKIDSLUICECONFORMANCE", "conformance/secret+key0123456789"
# The suite's principals: (config section, name). On Sluice each is a user of its own.
PRINCIPALS = [("s3 main", "main"), ("s3 alt", "alt"), ("s3 tenant", "tenant"), ("iam", "iam"), ("iam root", "iamroot"),
              ("iam alt root", "iamaltroot")]

CONFIG = """[DEFAULT]
host = 127.0.0.1
port = {port}
is_secure = False
ssl_verify = False

[fixtures]
bucket prefix = conf-{{random}}-
iam name prefix = s3-tests-
iam path prefix = /s3-tests/
"""


def principal(name, separate):
    """The keys, canonical ID and address of one of the suite's principals."""
    if not separate:
        return ACCESS, SECRET
    return f"AKIDSLUICE{name.upper()}", f"{name}/secret+key0123456789"


def user_id(name):
    return hashlib.sha256(f"conformance {name}".encode()).hexdigest()


def config_text(port, main_id, main_name, separate_users):
    text = CONFIG.format(port=port)
    for section, name in PRINCIPALS:
        access, secret = principal(name, separate_users)
        identity, display = (main_id, main_name) if name == "main" and not separate_users else (user_id(name), name)
        text += (f"\n[{section}]\ndisplay_name = {display}\nuser_id = {identity}\nemail = {name}@example.com\napi_name = default\n"
                 f"access_key = {access}\nsecret_key = {secret}\n" + ("tenant = tenant\n" if name == "tenant" else ""))
    return text


def sluice_users():
    """sluice.yml naming every principal as a user."""
    lines = ["users:"]
    for _, name in PRINCIPALS:
        access, secret = principal(name, True)
        lines += [f"  {name}:", f"    access-key: {access}", f"    secret-key: \"{secret}\"", f"    id: {user_id(name)}",
                  f"    email: {name}@example.com"]
    return "\n".join(lines) + "\n"


def run_suite(name, port, args, user, display_name, separate_users):
    folder = os.path.join(OUT, f"conformance-{name}")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    config = os.path.join(folder, "s3tests.conf")
    open(config, "w").write(config_text(port, user, display_name, separate_users))
    report = os.path.join(folder, "junit.xml")
    command = [args.python, "-m", "pytest", "s3tests/functional/test_s3.py", "-q", "-p", "no:cacheprovider",
               f"--timeout={args.timeout}", f"--junitxml={report}", "-o", "junit_family=xunit1"]
    if args.k:
        command += ["-k", args.k]
    print(f"[{name}] running s3-tests...", file=sys.stderr)
    with open(os.path.join(folder, "pytest.log"), "w") as log:
        subprocess.run(command, cwd=args.s3_tests, env={**os.environ, "S3TEST_CONF": config}, stdout=log, stderr=subprocess.STDOUT)
    outcomes, reasons = {}, collections.Counter()
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        test = case.get("name")
        if case.find("skipped") is not None:
            outcomes[test] = "skipped"
        elif (failure := case.find("failure")) is not None or (failure := case.find("error")) is not None:
            outcomes[test] = "failed" if failure.tag == "failure" else "error"
            message = (failure.get("message") or "").splitlines()[0] if failure.get("message") else ""
            reasons[re.sub(r"[0-9a-f]{8,}|conf-\w+", "…", message)[:120]] += 1
        else:
            outcomes[test] = "passed"
    return outcomes, reasons


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--s3-tests", required=True, help="a checkout of ceph/s3-tests")
    parser.add_argument("--python", default=sys.executable, help="a Python with the suite's requirements")
    parser.add_argument("-k", help="pytest -k expression, to run part of the suite")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per test")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--skip-moto", action="store_true")
    parser.add_argument("--skip-sluice", action="store_true", help="moto_server alone (to run the two side by side)")
    args = parser.parse_args()
    args.s3_tests = os.path.abspath(args.s3_tests)
    if not args.no_build:
        build_sluice()
    os.makedirs(OUT, exist_ok=True)

    results = {}
    if not args.skip_sluice:
        data = os.path.join(OUT, "conformance-sluice-data")
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        open(os.path.join(data, "sluice.yml"), "w").write(sluice_users())
        port = free_port()
        log = open(os.path.join(OUT, "conformance-sluice.log"), "w")
        sluice = start_sluice(data, s3_port=port, stderr=log, environment=sluice_environment())
        try:
            results["sluice"] = run_suite("sluice", port, args, user=user_id("main"), display_name="main", separate_users=True)
        finally:
            stop_sluice(sluice)
    if not args.skip_moto:
        port = free_port()
        moto_log = open(os.path.join(OUT, "conformance-moto.log"), "w")
        moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=moto_log, stderr=moto_log)
        try:
            wait_port(port)
            results["moto"] = run_suite("moto", port, args, user="75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a",
                                        display_name="webfile", separate_users=False)
        finally:
            moto.terminate()
            moto.wait(timeout=30)

    print(f"\n{'server':<8} {'tests':>6} {'passed':>7} {'failed':>7} {'errors':>7} {'skipped':>8} {'share passed':>13}")
    for name, (outcomes, _) in results.items():
        counts = collections.Counter(outcomes.values())
        total = len(outcomes)
        print(f"{name:<8} {total:>6} {counts['passed']:>7} {counts['failed']:>7} {counts['error']:>7} {counts['skipped']:>8} "
              f"{counts['passed'] / total if total else 0:>13.1%}")
    if "moto" in results and "sluice" in results:
        sluice, moto = results["sluice"][0], results["moto"][0]
        both = sum(1 for t, o in sluice.items() if o == "passed" and moto.get(t) == "passed")
        only_moto = sum(1 for t, o in moto.items() if o == "passed" and sluice.get(t) != "passed")
        only_sluice = sum(1 for t, o in sluice.items() if o == "passed" and moto.get(t) != "passed")
        print(f"\npassed on both: {both}; only on Sluice: {only_sluice}; only on moto: {only_moto}")
    if "sluice" in results:
        print("\nSluice's most common failure messages:")
        for reason, count in results["sluice"][1].most_common(15):
            print(f"{count:>5}  {reason}")
    names = "-".join(results)
    json.dump({name: outcomes for name, (outcomes, _) in results.items()}, open(os.path.join(OUT, f"s3_conformance-{names}.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
