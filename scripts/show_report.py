"""Prints a validation report's table and where its files are: the newest
report under reports/, or the JSON file given."""
import glob
import json
import os
import sys

from ansible_collections.packetjungle.datapath.plugins.module_utils.report import render_table


def main():
    paths = sys.argv[1:] or sorted(glob.glob("reports/*.json"), key=os.path.getmtime)[-1:]
    if not paths:
        sys.exit("no report under reports/: run playbooks/validate.yml first")
    with open(paths[-1]) as f:
        report = json.load(f)
    print(render_table(report))
    print("\nverdict: %s" % ("OK" if report["ok"] else "%d problem(s)" % len(report["problems"])))
    print("report: %s\npicture: %s" % (paths[-1], paths[-1][:-len(".json")] + ".html"))


if __name__ == "__main__":
    main()
