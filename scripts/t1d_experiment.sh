#!/usr/bin/env bash
# In-silico experiment with t1d_uvapadova (docs/models/t1d_uvapadova.md, "In-silico experiment"):
# the 30 UVA/Padova virtual patients on a fixed meal plan with open-loop basal-bolus therapy.
#   basal: the patient's u2ss (pmol/kg/min) as a constant infusion, u2ss * BW / 6000 U/min
#   meals: every day 45 g at 07:00, 70 g at 12:00, 80 g at 19:00, eaten at 5 g/min
#   boluses: CHO / CR units (CR from Quest.csv) given with each meal; no correction boluses
# Prints per patient mean BG and the percentage of 5-min BG values in 70-180 mg/dL (time in
# range), below 70 and above 180, over DAYS days (default 3), then the cohort median.
# Usage: scripts/t1d_experiment.sh [BUILD_DIR] [DAYS]
# Reads the patients from ../shared/data/t1d (vpatient_params.csv, Quest.csv); override with
# T1D_DATA=/path/to/t1d.
set -euo pipefail
build=${1:-build}
days=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
data=${T1D_DATA:-$root/../shared/data/t1d}
patients="$data/vpatient_params.csv"
quest="$data/Quest.csv"
for f in "$patients" "$quest" "$build/medtwin"; do
  [[ -e "$f" ]] || { echo "t1d_experiment: missing $f" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Column of a header name in a CSV file (1-based).
col() { head -1 "$1" | tr ',' '\n' | grep -nx "$2" | cut -d: -f1; }
c_bw=$(col "$patients" BW)
c_u2ss=$(col "$patients" u2ss)
c_cr=$(col "$quest" CR)

printf '%-16s %8s %8s %8s %8s\n' patient meanBG TIR% TBR% TAR%
tail -n +2 "$patients" | cut -d, -f1 | while read -r name; do
  bw=$(awk -F, -v n="$name" -v c="$c_bw" '$1 == n { print $c }' "$patients")
  u2ss=$(awk -F, -v n="$name" -v c="$c_u2ss" '$1 == n { print $c }' "$patients")
  cr=$(awk -F, -v n="$name" -v c="$c_cr" '$1 == n { print $c }' "$quest")
  # The regimen: basal infusion for the whole run, then per day three meals with their boluses.
  awk -v bw="$bw" -v u2ss="$u2ss" -v cr="$cr" -v days="$days" 'BEGIN {
    end = days * 1440; basal = u2ss * bw / 6000
    print "ID,TIME,EVID,CMT,AMT,RATE"
    printf "1,0,1,insulin,%.10g,%.10g\n", basal * (end + 1), basal
    split("420 720 1140", at, " "); split("45 70 80", g, " ")
    for (d = 0; d < days; ++d) for (k = 1; k <= 3; ++k) {
      t = d * 1440 + at[k]
      printf "1,%d,1,meal,%d,5\n", t, g[k]
      printf "1,%d,1,insulin,%.6g,0\n", t, g[k] / cr
    }
  }' > "$tmp/regimen.csv"
  "$build/medtwin" simulate t1d_uvapadova --data "$tmp/regimen.csv" --params-file "$patients" \
    --params-set "$name" --times "0:5:$((days * 1440))" > "$tmp/out.csv"
  awk -F, -v n="$name" 'NR > 1 { bg = $3; s += bg; ++k; if (bg < 70) ++lo; else if (bg > 180) ++hi
    else ++in_range }
    END { printf "%-16s %8.1f %8.1f %8.1f %8.1f\n", n, s / k, 100 * in_range / k, 100 * lo / k,
          100 * hi / k }' "$tmp/out.csv"
done | tee "$tmp/table"
sort -k3 -g "$tmp/table" | awk '{ v[NR] = $3 } END { printf "cohort median TIR: %.1f %%\n",
  (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
