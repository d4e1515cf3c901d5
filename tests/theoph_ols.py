#!/usr/bin/python3
"""Maximum likelihood without a prior is ordinary least squares: a check on a public dataset.

`medtwin fit pk1cmt --prior none --estimate CL,V,KA --error additive` on the theophylline data
(data/theoph, Boeckmann, Sheiner & Beal 1994; R's Theoph) must find, for every subject, the
parameters that SciPy's least-squares solver (MINPACK Levenberg-Marquardt,
scipy.optimize.least_squares(method="lm")) finds for the same model written independently here
as its closed-form solution:

    C(t) = D KA / (V (KA - K)) (exp(-K t) - exp(-KA t)),   K = CL / V,

from the same starting point (the model's typical values, read from fit.json). With a constant
residual SD the -2 log likelihood is sum(((y - f) / sd)^2) + n ln(2 pi sd^2), so its minimum is
the least-squares minimum; the objectives are compared too.

Usage: theoph_ols.py MEDTWIN DATA_CSV [--table] (exit status 1 on any disagreement).
Must be run with Debian's /usr/bin/python3 (python3-numpy, python3-scipy).
"""

import csv
import json
import math
import subprocess
import sys
import tempfile

import numpy as np
from scipy.optimize import least_squares

REL_TOL = 1e-4  # issue 5: agreement with ordinary least squares to 1e-4 relative
SIGMA = 0.5     # mg/L, additive residual SD (any constant gives the same minimum)


def read_subjects(path):
    subjects = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            s = subjects.setdefault(row["ID"], {"dose": None, "t": [], "y": []})
            if row["EVID"] == "1":
                s["dose"] = float(row["AMT"])
            else:
                s["t"].append(float(row["TIME"]))
                s["y"].append(float(row["DV"]))
    return subjects


def concentration(log_p, dose, t):
    cl, v, ka = np.exp(log_p)
    k = cl / v
    return dose * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    medtwin, data = sys.argv[1], sys.argv[2]
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [medtwin, "fit", "pk1cmt", "--data", data, "--prior", "none", "--estimate",
               "CL,V,KA", "--error", "additive", "--sigma-add", str(SIGMA), "--out", out.name]
        subprocess.run(cmd, check=True)
        fit = json.load(open(out.name))
    names = ["CL", "V", "KA"]
    start = np.log([fit["theta"][n] for n in names])
    subjects = read_subjects(data)
    worst = 0.0
    rows = []
    for sj in fit["subjects"]:
        s = subjects[sj["id"]]
        t, y = np.array(s["t"]), np.array(s["y"])
        res = least_squares(lambda lp: (y - concentration(lp, s["dose"], t)) / SIGMA, start,
                            method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)
        if not res.success:
            print(f"ID {sj['id']}: scipy did not converge: {res.message}")
            return 1
        ref = np.exp(res.x)
        got = np.array([sj["estimates"][n]["value"] for n in names])
        rel = np.abs(got - ref) / ref
        ofv_ref = float(np.sum(res.fun ** 2)) + len(y) * math.log(2 * math.pi * SIGMA ** 2)
        ofv_rel = abs(sj["summary"]["objective"] - ofv_ref) / abs(ofv_ref)
        worst = max(worst, float(rel.max()), ofv_rel)
        rows.append((sj["id"], got, ref, float(rel.max()), sj["summary"]["objective"], ofv_ref))
        if rel.max() > REL_TOL or ofv_rel > REL_TOL:
            print(f"ID {sj['id']}: medtwin {got} vs scipy {ref} (relative {rel}); "
                  f"objective {sj['summary']['objective']} vs {ofv_ref}")
            return 1
    if len(rows) != len(subjects):
        print(f"fit.json has {len(rows)} subjects, the data {len(subjects)}")
        return 1
    if "--table" in sys.argv:
        print("| ID | CL (L/h) | V (L) | KA (1/h) | largest relative difference from SciPy |")
        print("|---|---|---|---|---|")
        for sid, got, ref, rel, _, _ in rows:
            print(f"| {sid} | {got[0]:.4f} | {got[1]:.3f} | {got[2]:.4f} | {rel:.1e} |")
    print(f"theoph: {len(rows)} subjects agree with scipy least squares; "
          f"largest relative difference {worst:.2e} (tolerance {REL_TOL:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
