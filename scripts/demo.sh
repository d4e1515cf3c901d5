#!/usr/bin/env bash
# `make run`: a short demo. Simulates vancomycin courses for three patients with the
# Goti 2018 population model, then a 2,000-subject population for the first patient, and
# prints a readable summary (peaks, troughs, AUC over 48-72 h against the 400-600 mg*h/L target
# of the 2020 ASHP/IDSA vancomycin guideline), and fits two patients with measured levels and
# forecasts their next days.
set -euo pipefail
build=${1:-build}
bin="$build/medtwin"
examples="$(dirname "$0")/../examples"
data="$examples/vancomycin_course.csv"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== medtwin demo: vancomycin (model vancomycin_goti2018, Goti et al. 2018, Ther Drug Monit 40:212-221)"
echo
"$bin" model vancomycin_goti2018 | sed -n '1,3p'
echo
echo "Dataset: examples/vancomycin_course.csv"
grep '^#' "$data" | sed 's/^# /  /'
echo
"$bin" simulate vancomycin_goti2018 --data "$data" --times 0:0.05:72 --out "$tmp/sim.csv"
awk -F, '
  NR == 1 { next }
  {
    id = $1; t = $2; cp = $3
    if (id != last) { ids[++n] = id; last = id; prev_t[id] = t; prev_cp[id] = cp }
    # trapezoidal AUC over 48-72 h (grid step 0.05 h)
    if (t > 48 && t <= 72) auc[id] += (t - prev_t[id]) * (cp + prev_cp[id]) / 2
    if (t >= 48 && (!(id in peak) || cp > peak[id])) peak[id] = cp
    if (t >= 48 && (!(id in trough) || cp < trough[id])) trough[id] = cp
    if (t == 72) last_cp[id] = cp
    prev_t[id] = t; prev_cp[id] = cp
  }
  END {
    printf "Typical-patient predictions, day 3 (48-72 h):\n"
    printf "  %-8s %12s %14s %16s  %s\n", "patient", "peak mg/L", "trough mg/L", "AUC mg*h/L", "AUC target 400-600"
    for (i = 1; i <= n; i++) {
      id = ids[i]
      verdict = auc[id] < 400 ? "below target" : (auc[id] > 600 ? "above target" : "on target")
      printf "  %-8s %12.1f %14.1f %16.0f  %s\n", id, peak[id], trough[id], auc[id], verdict
    }
  }' "$tmp/sim.csv"
echo
echo "Between-patient variability for patient 1's regimen (2,000 virtual patients, seed 7):"
awk -F, 'NR == 1 || $1 == 1 || /^ID/' "$data" | grep -v '^#' > "$tmp/p1.csv"
"$bin" population vancomycin_goti2018 --data "$tmp/p1.csv" --n 2000 --seed 7 --threads 2 \
  --times 60:12:72 --percentiles 5,50,95 --summary 2> "$tmp/pop.log" > "$tmp/pop.csv"
awk -F, 'NR > 1 { printf "  t = %4.0f h: trough CP 5th %6.1f, median %6.1f, 95th %6.1f mg/L\n", $2, $3, $4, $5 }' "$tmp/pop.csv"
sed 's/^/  (/; s/$/)/' "$tmp/pop.log"
echo
echo "Two patients with measured levels: their own parameters (MAP under the population prior),"
echo "then a forecast of day 5 under new doses (examples/vancomycin_next_days.csv):"
"$bin" fit vancomycin_goti2018 --data "$examples/vancomycin_levels.csv" --out "$tmp/fit.json"
/usr/bin/python3 -c '
import json, sys
fit = json.load(open(sys.argv[1]))
for s in fit["subjects"]:
    e = s["estimates"]
    print("  patient %s: CL %.2f L/h (90 %% CI %.2f-%.2f), V1 %.1f L; %d levels, converged: %s" % (
        s["id"], e["CL"]["value"], e["CL"]["ci90"][0], e["CL"]["ci90"][1], e["V1"]["value"],
        len(s["observations"]), s["summary"]["converged"]))' "$tmp/fit.json"
"$bin" forecast --fit "$tmp/fit.json" --data "$examples/vancomycin_next_days.csv" \
  --plot "$tmp/forecast.svg" > "$tmp/forecast.csv"
awk -F, 'NR > 1 && $2 > 100 { printf "  patient %s at %5.1f h: CP median %5.1f mg/L (90 %% interval %5.1f to %5.1f)\n", $1, $2, $4, $3, $5 }' "$tmp/forecast.csv"
echo
echo "Next: '$bin models', '$bin model NAME', '$bin simulate --help', '$bin fit --help', '$bin forecast --help'."
