#!/usr/bin/python3
"""scipy reference for the medtwin foundation benchmark.

Problem (amounts in mg, time in h): two-compartment PK model with a depot
    d depot/dt   = -KA*depot
    d central/dt =  KA*depot - (CL/V)*central - (Q/V)*central + (Q/V2)*periph + rate(t)
    d periph/dt  =  (Q/V)*central - (Q/V2)*periph
CL = 4.5 L/h, V = 58.4 L, Q = 6.5 L/h, V2 = 38.4 L, KA = 1.0 1/h; 1000 mg infused
into central over 1 h every 12 h, 14 doses (t = 0, 12, ..., 156 h); output
central/V (mg/L) at t = 0, 1, ..., 168 h (169 points).

Timed solver: scipy.integrate.odeint (LSODA), restarted at every discontinuity of
the infusion rate, hourly outputs inside each segment, rtol = atol = 1e-8.

Exact solution (--exact-check, --print-exact): the system is linear with a
piecewise-constant input, so over a segment of length h with constant rate r
    [y(t+h); 1] = expm(h * [[A, b], [0, 0]]) [y(t); 1],  b = (0, r, 0),
propagated output by output and segment by segment.

Subject 0 has the typical parameters (eta = 0); subject i > 0 has
CL_i = CL*exp(eta1), V_i = V*exp(eta2), eta ~ N(0, 0.09) (SD 0.3), drawn from a
seeded numpy generator.

Must be run with Debian's /usr/bin/python3 (python3-numpy, python3-scipy).
"""

import argparse
import sys
import time

import numpy as np
from scipy.integrate import odeint
from scipy.linalg import expm

CL, V, Q, V2, KA = 4.5, 58.4, 6.5, 38.4, 1.0
DOSE_AMOUNT = 1000.0  # mg
INF_DURATION = 1.0  # h
DOSE_INTERVAL = 12.0  # h
NDOSES = 14
END_TIME = 168.0  # h
TOUT = np.arange(0.0, END_TIME + 0.5, 1.0)  # 169 hourly outputs
RTOL = 1e-8
ATOL = 1e-8
MXSTEP = 100000
OMEGA_SD = 0.3  # sqrt(0.09)
SEED = 20240601


def build_segments():
    """Return [(t0, t1, rate, outputs in (t0, t1])] between infusion discontinuities."""
    starts = [d * DOSE_INTERVAL for d in range(NDOSES)]
    breaks = {0.0, END_TIME}
    for s in starts:
        breaks.add(s)
        breaks.add(s + INF_DURATION)
    breaks = sorted(t for t in breaks if 0.0 <= t <= END_TIME)
    segments = []
    for t0, t1 in zip(breaks[:-1], breaks[1:]):
        rate = sum(DOSE_AMOUNT / INF_DURATION for s in starts
                   if s <= t0 and s + INF_DURATION >= t1)
        outs = TOUT[(TOUT > t0) & (TOUT <= t1)]
        segments.append((t0, t1, rate, outs))
    return segments


SEGMENTS = build_segments()


def subject_params(n):
    """(CL, V) for subjects 0..n-1; subject 0 is the typical subject."""
    rng = np.random.default_rng(SEED)
    eta = rng.normal(0.0, OMEGA_SD, size=(n, 2))
    eta[0, :] = 0.0
    return CL * np.exp(eta[:, 0]), V * np.exp(eta[:, 1])


def rhs(y, t, k10, k12, k21, ka, rate):
    depot, central, periph = y
    return [-ka * depot,
            ka * depot - k10 * central - k12 * central + k21 * periph + rate,
            k12 * central - k21 * periph]


def simulate_odeint(cl, v):
    """Central concentration at TOUT and total RHS evaluations, via odeint segment by segment."""
    k10, k12, k21 = cl / v, Q / v, Q / V2
    y = np.zeros(3)
    cp = [0.0]  # t = 0
    nfe = 0
    for t0, t1, rate, outs in SEGMENTS:
        tgrid = np.concatenate(([t0], outs))
        if tgrid[-1] < t1:
            tgrid = np.append(tgrid, t1)
        sol, info = odeint(rhs, y, tgrid, args=(k10, k12, k21, KA, rate), rtol=RTOL, atol=ATOL,
                           mxstep=MXSTEP, full_output=True)
        if info["message"] != "Integration successful.":
            raise RuntimeError(f"odeint failed on [{t0}, {t1}]: {info['message']}")
        nfe += int(info["nfe"][-1])
        cp.extend(sol[1:1 + len(outs), 1] / v)
        y = sol[-1]
    return np.asarray(cp), nfe


def simulate_exact(cl, v):
    """Exact central concentration at TOUT via the matrix exponential."""
    k10, k12, k21 = cl / v, Q / v, Q / V2
    a = np.array([[-KA, 0.0, 0.0],
                  [KA, -(k10 + k12), k21],
                  [0.0, k12, -k21]])
    cache = {}

    def propagator(h, rate):
        key = (h, rate)
        if key not in cache:
            m = np.zeros((4, 4))
            m[:3, :3] = a
            m[1, 3] = rate
            cache[key] = expm(h * m)
        return cache[key]

    z = np.array([0.0, 0.0, 0.0, 1.0])
    cp = [0.0]
    for t0, t1, rate, outs in SEGMENTS:
        t = t0
        for tout in outs:
            z = propagator(tout - t, rate) @ z
            t = tout
            cp.append(z[1] / v)
        if t < t1:
            z = propagator(t1 - t, rate) @ z
    return np.asarray(cp)


def max_rel_err(approx, exact):
    """max_k |approx_k - exact_k| / |exact_k| (absolute difference where exact_k == 0)."""
    diff = np.abs(approx - exact)
    scale = np.where(exact != 0.0, np.abs(exact), 1.0)
    rel = diff / scale
    k = int(np.argmax(rel))
    return rel[k], TOUT[k]


def read_cvode_output(path):
    """Parse 'time,cp' rows printed by `cvode_reference --print` (other lines are skipped)."""
    stream = sys.stdin if path == "-" else open(path)
    times, cps = [], []
    with stream:
        for line in stream:
            parts = line.strip().split(",")
            if len(parts) != 2:
                continue
            try:
                t, c = float(parts[0]), float(parts[1])
            except ValueError:
                continue
            times.append(t)
            cps.append(c)
    times = np.asarray(times)
    if times.shape != TOUT.shape or not np.array_equal(times, TOUT):
        raise SystemExit(f"{path}: expected {len(TOUT)} rows at t = 0..168 h, got {len(times)}")
    return np.asarray(cps)


def print_rows(cp):
    print("time,cp")
    for t, c in zip(TOUT, cp):
        print(f"{t:.17g},{c:.17g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=200, help="number of subjects (default 200)")
    ap.add_argument("--print", action="store_true", help="print time,cp (odeint) for subject 0")
    ap.add_argument("--print-exact", action="store_true",
                    help="print time,cp (matrix-exponential exact solution) for subject 0")
    ap.add_argument("--exact-check", action="store_true",
                    help="compare odeint (all subjects) and, with --cvode-output, the CVODE "
                         "program (subject 0) against the exact solution")
    ap.add_argument("--cvode-output", metavar="FILE",
                    help="output of `cvode_reference --print` ('-' for stdin), for --exact-check")
    args = ap.parse_args()
    if args.subjects < 1:
        ap.error("--subjects must be positive")
    if args.cvode_output and not args.exact_check:
        ap.error("--cvode-output requires --exact-check")

    cls, vs = subject_params(args.subjects)

    results = []
    total_nfe = 0
    start = time.perf_counter()
    for i in range(args.subjects):
        cp, nfe = simulate_odeint(cls[i], vs[i])
        results.append(cp)
        total_nfe += nfe
    seconds = time.perf_counter() - start

    if args.print:
        print_rows(results[0])
    if args.print_exact:
        print_rows(simulate_exact(cls[0], vs[0]))

    if args.exact_check:
        worst, worst_subject, worst_t = 0.0, 0, 0.0
        for i in range(args.subjects):
            err, t = max_rel_err(results[i], simulate_exact(cls[i], vs[i]))
            if err > worst:
                worst, worst_subject, worst_t = err, i, t
        exact0 = simulate_exact(cls[0], vs[0])
        err0, t0 = max_rel_err(results[0], exact0)
        print(f"exact: subject 0 cp(1 h)={exact0[1]:.15g} cp(157 h)={exact0[157]:.15g} "
              f"cp(168 h)={exact0[168]:.15g} mg/L")
        print(f"odeint vs exact: subject 0 max_rel_err={err0:.3e} (t={t0:g} h); "
              f"all {args.subjects} subjects max_rel_err={worst:.3e} "
              f"(subject {worst_subject}, t={worst_t:g} h)")
        if args.cvode_output:
            cv = read_cvode_output(args.cvode_output)
            err, t = max_rel_err(cv, exact0)
            rel = lambda k: abs(cv[k] - exact0[k]) / exact0[k]
            print(f"cvode vs exact: subject 0 max_rel_err={err:.3e} (t={t:g} h); "
                  f"rel_err at 1 h={rel(1):.3e}, 157 h={rel(157):.3e}, 168 h={rel(168):.3e}")

    print(f"scipy_odeint subjects={args.subjects} seconds={seconds:.6f} "
          f"us_per_subject={1e6 * seconds / args.subjects:.3f} "
          f"rhs_per_subject={total_nfe / args.subjects:.1f}")


if __name__ == "__main__":
    main()
