#!/usr/bin/env python3
"""Brings the reviewed public API lists (src/*/PublicAPI.*.txt) in line with the code after a deliberate change:
builds the solution, adds every symbol the analyzer reports as new (RS0016) to PublicAPI.Unshipped.txt and removes
every listed symbol it reports as gone (RS0017). Review the diff of the lists before committing.
    tools/update-public-api.py"""
import os, re, subprocess, sys
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for attempt in range(3):
    out = subprocess.run(["dotnet", "build", os.path.join(root, "HyperpixelFlow.slnx"), "-c", "Release", "-nologo"],
                         capture_output=True, text=True).stdout
    added, removed = {}, {}
    for m in re.finditer(r"^(\S+?)\(\d+,\d+\): error (RS0016|RS0017): Symbol '(.*?)' is (?:not part of the declared public API|part of the declared API).*\[(\S+)\.csproj\]$", out, re.M):
        project_dir = os.path.dirname(m.group(4) + ".csproj")
        (added if m.group(2) == "RS0016" else removed).setdefault(project_dir, set()).add(m.group(3))
    if not added and not removed:
        print("public API lists are up to date"); sys.exit(0)
    for project_dir, symbols in added.items():
        path = os.path.join(project_dir, "PublicAPI.Unshipped.txt")
        lines = open(path).read().splitlines()
        lines = lines[:1] + sorted(set(lines[1:]) | symbols)
        open(path, "w").write("\n".join(lines) + "\n")
        print(f"{path}: +{len(symbols)}")
    for project_dir, symbols in removed.items():
        for name in ("PublicAPI.Shipped.txt", "PublicAPI.Unshipped.txt"):
            path = os.path.join(project_dir, name)
            lines = open(path).read().splitlines()
            kept = [l for l in lines if l not in symbols]
            if len(kept) != len(lines):
                open(path, "w").write("\n".join(kept) + "\n")
                print(f"{path}: -{len(lines) - len(kept)}")
sys.exit("the lists did not converge; see the build output")
